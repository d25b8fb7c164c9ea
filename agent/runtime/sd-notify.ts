/**
 * Readiness for systemd (Type=notify). Node has no AF_UNIX datagram sockets, so the message
 * goes through `systemd-notify`, run as a child once the node has loaded its state and opened
 * its ports. By default systemd-notify waits for the service manager to process the message
 * (a BARRIER), so the manager can still attribute it to the unit; the unit must allow it with
 * NotifyAccess=all (systemd/coraft.service). Without NOTIFY_SOCKET (not under systemd) this
 * does nothing (and node:child_process is not even loaded, issue 17: start-up time). A failure
 * is logged and never stops the agent: systemd then times the start out.
 */
import type { DiagnosticLogger } from '../../contracts/logger.js';

/** How long systemd-notify may take, ms. */
const NOTIFY_TIMEOUT_MS = 10_000;

/** What to tell systemd: READY=1 with a status line, or STOPPING=1. */
export type SdNotifyState = { readonly kind: 'ready'; readonly status: string } | { readonly kind: 'stopping' };

/** Sends `state` to systemd when NOTIFY_SOCKET is set; resolves true when systemd-notify succeeded. */
export async function sdNotify(
  state: SdNotifyState,
  logger: DiagnosticLogger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean> {
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return false;
  const { execFile } = await import('node:child_process');
  const args = state.kind === 'ready' ? ['--ready', `--status=${state.status.slice(0, 200)}`] : ['STOPPING=1'];
  return new Promise((resolve) => {
    execFile('systemd-notify', args, { timeout: NOTIFY_TIMEOUT_MS, env }, (error) => {
      if (error !== null) logger.warning('systemd-notify failed', { error: error.message, state: state.kind });
      resolve(error === null);
    });
  });
}
