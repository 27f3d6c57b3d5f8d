// The derivations an evaluation knows: those it instantiated and those it
// read from the store as inputs, with their modulo hashes memoized per
// .drv path (as C++ Nix memoizes hashDerivationModulo): a
// package set's derivations share deep input graphs, and hashing or walking
// them again for every dependent made evaluation quadratic.
import { Derivation, derivationReferences, hashDerivationModulo, parseDerivation } from "../core/derivation";
import type { Hash } from "../core/hash";

export class KnownDerivations {
  private readonly drvs = new Map<string, Derivation>();
  private readonly modulo = new Map<string, Hash>();

  /** `readDrv` reads a .drv file's text that this evaluation did not make (from the store). */
  constructor(private readonly readDrv: (drvPath: string) => string) {}

  /** A derivation this evaluation made, with its modulo hash when it is known already. */
  add(drvPath: string, drv: Derivation, modulo?: Hash): void {
    this.drvs.set(drvPath, drv);
    if (modulo !== undefined) this.modulo.set(drvPath, modulo);
  }

  /** A known derivation, or the one read from the store. Throws when it cannot be read or parsed. */
  get(drvPath: string): Derivation {
    let d = this.drvs.get(drvPath);
    if (d === undefined) this.drvs.set(drvPath, (d = parseDerivation(this.readDrv(drvPath))));
    return d;
  }

  has(drvPath: string): boolean {
    return this.drvs.has(drvPath);
  }

  /** hashDerivationModulo of a .drv (unmasked: as an input of others). */
  readonly moduloHash = (drvPath: string): Hash => {
    let h = this.modulo.get(drvPath);
    if (h === undefined) {
      this.enter(drvPath);
      try {
        h = hashDerivationModulo(this.get(drvPath), this.moduloHash);
      } finally {
        this.inProgress.delete(drvPath);
      }
      this.modulo.set(drvPath, h);
    }
    return h;
  };

  /** A .drv's closure over its references (input sources and derivations), itself included. */
  closure(drvPath: string): string[] {
    const out = new Set<string>([drvPath]);
    const todo = [drvPath];
    while (todo.length > 0) {
      for (const ref of derivationReferences(this.get(todo.pop()!))) {
        if (out.has(ref)) continue;
        out.add(ref);
        if (ref.endsWith(".drv")) todo.push(ref);
      }
    }
    return [...out];
  }

  /** Derivations whose hash is being computed: meeting one again is a cycle (only a damaged .drv has one). */
  private readonly inProgress = new Set<string>();
  private enter(drvPath: string): void {
    if (this.inProgress.has(drvPath)) throw new Error(`derivation '${drvPath}' depends on itself`);
    this.inProgress.add(drvPath);
  }
}
