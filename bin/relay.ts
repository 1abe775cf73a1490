/**
 * The relay's own entry (dist/bin/relay.js): bin/veza-stream runs it for `veza-stream relay …`
 * without loading the node's code, so the relay starts fast (bin/commands/relay.ts).
 */
import { runRelayCommand } from "./commands/relay";

void runRelayCommand(process.argv.slice(3));
