// `tvix completion bash|zsh|fish`: shell completion scripts, made from the
// command tree itself (subcommands and their options), so they stay true.
import type { Command } from "commander";
import { UserError } from "../errors";

interface Node {
  path: string[];
  subcommands: string[];
  options: { flags: string[]; description: string }[];
}

function walk(c: Command, path: string[], out: Node[]): void {
  out.push({
    path,
    subcommands: c.commands.map((s) => s.name()),
    options: c.options.map((o) => ({ flags: [o.long, o.short].filter((f): f is string => !!f), description: o.description })),
  });
  for (const s of c.commands) walk(s, [...path, s.name()], out);
}

const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(nodes: Node[]): string {
  const cases = nodes
    .map((n) => {
      const words = [...n.subcommands, ...n.options.flatMap((o) => o.flags), "--help"].join(" ");
      return `    ${shQuote(n.path.join(" "))}) words=${shQuote(words)} ;;`;
    })
    .join("\n");
  return `# bash completion for tvix: eval "$(tvix completion bash)"
_tvix() {
  local cur=\${COMP_WORDS[COMP_CWORD]} path="" w i
  # the subcommand path typed so far (words that are subcommands)
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    case "$w" in -*) continue ;; esac
    case "$(_tvix_words "\${path# }")" in *" $w "*) path="$path $w" ;; esac
  done
  COMPREPLY=($(compgen -W "$(_tvix_words "\${path# }")" -- "$cur"))
}
_tvix_words() {
  local words=""
  case "$1" in
${cases}
  esac
  echo " $words "
}
complete -o default -F _tvix tvix
`;
}

function fish(nodes: Node[]): string {
  const lines = ["# fish completion for tvix: tvix completion fish | source", "complete -c tvix -f"];
  for (const n of nodes) {
    // fish: the condition that exactly this subcommand path was typed
    const cond = n.path.length === 0 ? "__fish_use_subcommand" : `__fish_seen_subcommand_from ${n.path[n.path.length - 1]}`;
    for (const s of n.subcommands) lines.push(`complete -c tvix -n ${shQuote(cond)} -a ${shQuote(s)}`);
    for (const o of n.options) {
      const long = o.flags.find((f) => f.startsWith("--"));
      const short = o.flags.find((f) => !f.startsWith("--"));
      lines.push(`complete -c tvix -n ${shQuote(cond)}${long ? ` -l ${long.slice(2)}` : ""}${short ? ` -s ${short.slice(1)}` : ""} -d ${shQuote(o.description)}`);
    }
  }
  lines.push("complete -c tvix -F -n '__fish_seen_subcommand_from eval instantiate repl'");
  return lines.join("\n") + "\n";
}

export function register(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script (bash, zsh or fish)")
    .argument("<shell>", "bash, zsh or fish")
    .addHelpText(
      "after",
      `
Examples:
  eval "$(tvix completion bash)"          # in ~/.bashrc
  eval "$(tvix completion zsh)"           # in ~/.zshrc
  tvix completion fish > ~/.config/fish/completions/tvix.fish`,
    )
    .action((shell: string) => {
      const nodes: Node[] = [];
      walk(program, [], nodes);
      if (shell === "bash") process.stdout.write(bash(nodes));
      // zsh runs the bash function through bashcompinit
      else if (shell === "zsh") process.stdout.write(`# zsh completion for tvix: eval "$(tvix completion zsh)"\nautoload -U +X bashcompinit && bashcompinit\n${bash(nodes)}`);
      else if (shell === "fish") process.stdout.write(fish(nodes));
      else throw new UserError(`unknown shell '${shell}' (bash, zsh or fish)`);
    });
}
