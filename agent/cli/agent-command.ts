/**
 * `coraft agent --config FILE [--trace FILE]`: runs one node in the foreground until SIGTERM or
 * SIGINT (or until the parent process that started it over IPC goes away). Exit codes follow
 * sysexits(3); see EXIT in runtime/agent.ts.
 */
import { loadAgentConfig } from '../config/agent-config.js';
import type { AgentConfig } from '../config/agent-config.js';
import { ConfigError, LeftOutError, describeError } from '../../contracts/errors.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { Metrics } from '../../contracts/metrics.js';
import { Agent, EXIT, exitCodeFor } from '../runtime/agent.js';
import { ConsoleLogger, PinoLogger } from '../observability/loggers.js';
import { NoopMetrics } from '../observability/noop.js';
import { parseHostPort } from '../config/agent-config.js';
import { REAL_FACTORIES } from '../runtime/factories.js';
import { sdNotify } from '../runtime/sd-notify.js';
import { recordLeftOut } from '../runtime/recovery-epoch.js';
import { checkListenPeerHost, systemHostLookup } from '../runtime/listen-host.js';
import { StartupPhases, nodeBootstrapEndMs, startupLogFields } from '../observability/startup-phases.js';
import { UsageError, parseOptions } from './args.js';
import { applyAgentV8Flags, openRuntimeFlags } from '../runtime/v8-flags.js';
import { setFlagsFromString } from 'node:v8';
import type { CodeCacheHooks } from './code-cache.js';
import { routeLibraryConsole } from '../observability/library-console.js';

const HELP = `usage: coraft agent --config FILE [--trace FILE]

Runs one coraft node in the foreground until SIGTERM or SIGINT. On SIGTERM a leader hands
leadership to the most up-to-date follower first.
exit codes: 0 stopped on request, 2 bad command line, 69 a port could not be bound, 70 internal error,
74 data directory error, 78 invalid configuration (or a data folder of another node or cluster)`;

function buildLogger(config: AgentConfig): DiagnosticLogger {
  return config.logFormat === 'console'
    ? new ConsoleLogger(config.logLevel)
    : new PinoLogger({ level: config.logLevel, base: { node: config.nodeId } });
}

/**
 * The metrics backend the configuration names. The backends (prom-client, hot-shots, the EMF
 * writer) are imported only when configured: an agent without metrics never loads them.
 */
async function buildMetrics(config: AgentConfig): Promise<{ metrics: Metrics; close: () => Promise<void> }> {
  const settings = config.metrics;
  if (settings.kind === 'none') return { metrics: new NoopMetrics(), close: () => Promise.resolve() };
  if (settings.kind === 'cloudwatch-emf') {
    const { EmfMetrics } = await import('../observability/emf-metrics.js');
    const metrics = EmfMetrics.toFile(settings.emfNamespace, settings.emfFile);
    const timer = setInterval(() => void metrics.flush(), settings.flushIntervalMs);
    return {
      metrics,
      close: async () => {
        clearInterval(timer);
        await metrics.flush();
      },
    };
  }
  const { PrometheusMetrics, StatsdMetrics } = await import('../observability/metrics.js');
  switch (settings.kind) {
    case 'prometheus': {
      const metrics = await PrometheusMetrics.create(settings.prefix);
      await metrics.listen(parseHostPort(settings.listen, 'metrics.listen'));
      return { metrics, close: () => metrics.close() };
    }
    case 'statsd': {
      const metrics = await StatsdMetrics.create({
        host: settings.statsdHost,
        port: settings.statsdPort,
        prefix: settings.prefix,
      });
      return { metrics, close: () => metrics.flush() };
    }
  }
}

/**
 * Resolves with the exit code once the agent stopped: on SIGTERM or SIGINT, when the parent
 * that started it over IPC goes away, or after a fatal error (waited on, not polled: an agent
 * at rest has no timer of its own to wake for).
 */
export function untilStopped(agent: Pick<Agent, 'stop' | 'whenFatal'>, logger: DiagnosticLogger): Promise<number> {
  return new Promise<number>((resolveExit) => {
    const stopFor = (reason: string, exitCode: number): void => {
      void sdNotify({ kind: 'stopping' }, logger);
      void agent.stop(reason).then(
        () => resolveExit(exitCode),
        (error: unknown) => resolveExit(exitCodeFor(error)),
      );
    };
    process.once('SIGTERM', () => stopFor('SIGTERM', EXIT.ok));
    process.once('SIGINT', () => stopFor('SIGINT', EXIT.ok));
    // Started by a supervising process over IPC (the demo, the tests): stop when it goes.
    if (process.send !== undefined) {
      process.once('disconnect', () => stopFor('parent exited', EXIT.ok));
      // A 'disconnect' listener refs the IPC channel; unref it so the process can exit once stopped.
      process.channel?.unref();
    }
    // A fatal error stops the node on its own; the process then stops and exits with its code.
    void agent.whenFatal().then((fatal) => stopFor('fatal error', exitCodeFor(fatal)));
  });
}

/**
 * How the loader compiled node_modules' CommonJS files (agent/cli/module-cache.ts), as flat log fields:
 * `moduleCacheFile` ('read', 'missing', 'invalid'), `moduleCacheUsed`, `moduleCacheCompiled`, `moduleCacheRejected`.
 */
function moduleCacheFields(hooks: CodeCacheHooks | undefined): Readonly<Record<string, string | number>> {
  const counts = hooks?.moduleCache?.();
  if (counts === undefined) return {};
  return {
    moduleCacheFile: counts.file,
    moduleCacheUsed: counts.used,
    moduleCacheCompiled: counts.compiled,
    moduleCacheRejected: counts.rejected,
  };
}

/**
 * The options of `coraft agent`, or the exit code when the command ends here: 0 after --help, 2 on a bad
 * command line (as every coraft command; the unit's RestartPreventExitStatus does not restart it).
 */
function agentOptions(args: readonly string[]): { config: string; trace: string | undefined } | number {
  let values: { config?: string | undefined; trace?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseOptions(args, {
      config: { type: 'string' },
      trace: { type: 'string' },
      help: { type: 'boolean' },
    }));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`coraft agent: ${error.message}\n${HELP}\n`);
    return EXIT.usage;
  }
  if (values.help === true) {
    process.stdout.write(`${HELP}\n`);
    return EXIT.ok;
  }
  if (values.config === undefined) {
    process.stderr.write(`coraft agent: --config FILE is required (the agent.json of this node)\n${HELP}\n`);
    return EXIT.usage;
  }
  return { config: values.config, trace: values.trace };
}

/**
 * Runs `coraft agent args` and resolves with its exit code once it stopped. `hooks`, from the bundle's
 * loader: the code cache's state goes into "agent ready", and the cache is written once the agent is ready.
 */
export async function runAgentCommand(args: readonly string[], hooks?: CodeCacheHooks): Promise<number> {
  // Everything up to here is Node's bootstrap and loading the modules (start-up phases, issue 17).
  const phases = new StartupPhases();
  phases.mark('bootstrap', nodeBootstrapEndMs());
  // The bundle's loader (which passes `hooks`) set them before it compiled the bundle (code-cache.ts).
  if (hooks === undefined) applyAgentV8Flags(setFlagsFromString);
  phases.mark('modules');
  const options = agentOptions(args);
  if (typeof options === 'number') return options;
  let loaded: AgentConfig;
  try {
    loaded = loadAgentConfig(options.config);
  } catch (error) {
    // An invalid configuration is EX_CONFIG (78), not a usage error: systemd and scripts tell them apart.
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`coraft agent: ${error.message}\n`);
    return EXIT.config;
  }
  phases.mark('config');
  const config: AgentConfig = options.trace === undefined ? loaded : { ...loaded, trace: options.trace };
  const logger = buildLogger(config);
  // lmdb-js prints a failed commit's stack itself (a full disk): into the log as one record instead.
  const restoreConsole = routeLibraryConsole(logger, config.nodeId);
  let metricsHandle: { metrics: Metrics; close: () => Promise<void> };
  let agent: Agent;
  try {
    metricsHandle = await buildMetrics(config);
    phases.mark('logger');
    await checkListenPeerHost(config.listenPeer.host, systemHostLookup);
    agent = await Agent.start(config, REAL_FACTORIES, logger, metricsHandle.metrics, phases);
  } catch (error) {
    logger.critical('agent failed to start', { node: config.nodeId, error: describeError(error) });
    process.stderr.write(`coraft agent: ${describeError(error)}\n`);
    restoreConsole();
    return exitCodeFor(error);
  }
  // Under systemd (Type=notify): the state is loaded and every port is open. The stop signals are
  // handled before anyone hears of it: a SIGTERM sent on "agent ready" must stop the agent, not kill it.
  const stopped = untilStopped(agent, logger);
  phases.mark('ready');
  logger.info('agent ready', {
    node: config.nodeId,
    ...startupLogFields(phases.record(), process.cpuUsage()),
    ...(hooks === undefined ? {} : { codeCache: hooks.codeCache }),
    ...moduleCacheFields(hooks),
  });
  void sdNotify(
    { kind: 'ready', status: `node ${config.nodeId} serving on ${config.listenPeer.host}:${config.listenPeer.port}` },
    logger,
  );
  // After READY: the cache holds the code of the whole start-up path; written only when this start had none.
  // V8 flags may change at run time once it is written (runtime/v8-flags.ts openRuntimeFlags).
  if (hooks === undefined) openRuntimeFlags();
  else
    setImmediate(() => {
      hooks.afterReady();
      openRuntimeFlags();
    });
  const code = await stopped;
  // A recovery left this folder's history out: no later start serves it (recovery-epoch.ts).
  const fatal = agent.fatalError();
  if (fatal instanceof LeftOutError && config.storage !== 'memory') recordLeftOut(config.dataDir, fatal);
  restoreConsole();
  await metricsHandle.close();
  if (logger instanceof PinoLogger) logger.flush();
  // A listened-to IPC channel keeps the process alive: let it go, or a stopped agent never exits.
  process.removeAllListeners('disconnect');
  if (process.connected) process.disconnect();
  return code;
}
