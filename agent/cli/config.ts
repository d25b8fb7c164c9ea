/**
 * `coraft config schema` prints the JSON Schema of agent.json; `coraft config check FILE`
 * validates a file and names every problem.
 */
import { parseOptions } from './args.js';
import { loadAgentConfig } from '../config/agent-config.js';
import schema from '../config/agent-config.schema.json' with { type: 'json' };

const HELP = `usage: coraft config schema        print the JSON Schema of agent.json
       coraft config check FILE    validate FILE (keys included) and report every problem
`;

export function runConfigCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { help: { type: 'boolean' } }, { schema: 1, check: 2 });
  const [sub, file] = values.help === true ? [] : positionals;
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
