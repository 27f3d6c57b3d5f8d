// The tasks that run on a big-stack worker (see bigstack.ts). Each entry
// loads its module lazily, so registering costs nothing at start-up.
// Add a line per task: registerTask("name", async () => (await import("...")).fn);
import { registerTask } from "./bigstack";

void registerTask;
