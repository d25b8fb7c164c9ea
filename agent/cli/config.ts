/**
 * `coraft config schema` prints the JSON Schema of agent.json; `coraft config check FILE`
 * validates a file and names every problem.
 */
import { UsageError, parseOptions } from './args.js';
import { loadAgentConfig } from '../config/agent-config.js';
import schema from '../config/agent-config.schema.json' with { type: 'json' };

const HELP = `usage: coraft config schema        print the JSON Schema of agent.json
       coraft config check FILE    validate FILE (keys included) and report every problem
                                   (or --config FILE, as coraft agent takes it)
`;

export function runConfigCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    { help: { type: 'boolean' }, config: { type: 'string' } },
    { schema: 1, check: 2 },
  );
  const [sub, named] = values.help === true ? [] : positionals;
  if (values.config !== undefined && (sub !== 'check' || named !== undefined))
    throw new UsageError(
      sub === 'check' ? 'check: give the file once (FILE or --config FILE)' : '--config goes with check',
    );
  const file = named ?? values.config;
  if (sub === 'check' && file === undefined)
    throw new UsageError('check: FILE is required (coraft config check /etc/coraft/agent.json)');
  if (sub === 'schema') {
    process.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
    return Promise.resolve(0);
  }
  if (sub === 'check' && file !== undefined) {
    const config = loadAgentConfig(file);
    process.stdout.write(
      `${config.file}: valid (node ${config.nodeId}, ${config.members.length} ` +
        `members, ${config.transport}/${config.codec}/${config.storage})\n`,
    );
    return Promise.resolve(0);
  }
  process.stdout.write(HELP);
  return Promise.resolve(sub === undefined ? 0 : 2);
}
