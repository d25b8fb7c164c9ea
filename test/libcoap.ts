// What the tests driven by libcoap's coap-client share: whether it is installed (.ci/run installs
// libcoap3-bin; a developer machine may not have it, and those tests then skip with the reason).
import { execFileSync } from 'node:child_process';

/** Whether `coap-client-notls` can be run here. */
export function coapClientInstalled(): boolean {
  try {
    execFileSync('coap-client-notls', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // coap-client -h exits non-zero but runs: only a missing binary is "not installed".
    return !(error instanceof Error && 'code' in error && error.code === 'ENOENT');
  }
}
