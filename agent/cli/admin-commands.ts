/**
 * The CLI's admin commands: members, leader transfer, snapshot and admin set-key. Each change
 * is a command signed with the admin key (admin-signing.ts) and sent to a node's local
 * endpoint, which refuses anything unsigned; the endpoint connection itself uses the admin
 * identity when --endpoint-key is given. Exit codes as in client-commands.ts.
 */
import type { AdminOperation } from '../trust/admin-command.js';
import { publicKeyFromText } from '../trust/admin-command.js';
import { parseOptions, UsageError } from './args.js';
import { CLIENT_EXIT, COMMON, memberRows, membersTable, out, withClient } from './client-common.js';
import { EndpointError, JsonFields, type EndpointClient } from './endpoint-client.js';
import {
  maybeSignOnly,
  namedNode,
  readLinks,
  readText,
  SIGNING_OPTIONS,
  signerOf,
  type Signer,
} from './admin-signing.js';

const OPTIONS_HELP = `options: --admin-key FILE [--cluster ID] [--valid-for-s S] [--sign-only FILE],
         --endpoint HOST:PORT, --endpoint-key FILE [--endpoint-identity ID], --json, --timeout-ms MS
--sign-only FILE writes the signed command instead of sending it (send it later, from a
gateway, with 'coraft admin submit FILE').`;

const MEMBERS_HELP = `usage: coraft members list
       coraft members add ID ADDRESS [--learner] [--witness] [--links FILE]
       coraft members remove ID
       coraft members rekey ID [--links FILE]
${OPTIONS_HELP}

Changes are signed with the admin private key (--admin-key FILE, or CORAFT_ADMIN_KEY_FILE);
the cluster is --cluster ID or the one of the fleet.json next to the key.
--links FILE: the new member's links wrapped for the existing members, written by
'coraft provision --add|--rekey' (default: links/ID.json next to the admin key).
--witness: ID joins as a witness: it votes and counts toward commitment but stores only each
entry's term and index, never leads and serves no key-value requests (DESIGN.md).
rekey: commits ID's new links; then install ID's new bundle and restart it (deploy/README.md).
Removing or rekeying the leader hands leadership to another voter first.`;

/** Sends a signed command and returns the JSON answer. */
async function sendSigned(
  client: EndpointClient,
  method: 'POST' | 'PUT' | 'DELETE',
  path: string,
  envelope: Uint8Array,
): Promise<JsonFields> {
  const response = await client.call({
    method,
    path: path.split('/').filter((s) => s !== ''),
    payload: envelope,
    contentFormat: 50,
  });
  const text = new TextDecoder().decode(response.payload);
  return JsonFields.of(text === '' ? {} : JSON.parse(text), 'the answer');
}

/** Hands leadership away first when `id` leads (removing or rekeying the leader). */
async function moveLeadershipFrom(client: EndpointClient, signer: Signer, id: string): Promise<void> {
  const status = JsonFields.of(await client.json('GET', '/status'), 'the status');
  // The change cuts the endpoint's own node off before its answer could come back (admin-resources.ts).
  if (status.string('nodeId') === id)
    throw new EndpointError(
      '4.09',
      `this is ${id}'s own endpoint: it is cut off when the change commits and could not report the outcome; ` +
        "send the command through another member's endpoint (--endpoint)",
    );
  if (status.nullableString('leaderId') !== id) return;
  // With no other voter there is no one to hand over to: the leader refuses the removal itself, saying why.
  if (!memberRows(status).some((m) => m.id !== id && m.role === 'voter')) return;
  process.stderr.write(`${id} leads: handing leadership over first...\n`);
  await sendSigned(client, 'POST', '/leader/transfer', signer.sign({ op: 'transfer-leadership', to: null }));
}

/** What `members add` says of a witness it added. */
function witnessNote(witness: boolean | undefined): string {
  return witness === true ? ' (a witness)' : '';
}

/** The operation a `members` verb signs. */
function membersOperation(
  verb: string,
  id: string,
  address: string | undefined,
  values: { learner?: boolean | undefined; witness?: boolean | undefined; links?: string | undefined },
  signer: Signer,
): AdminOperation {
  switch (verb) {
    case 'add':
      if (address === undefined) throw new UsageError('members add: ID and ADDRESS are required');
      return {
        op: 'add-member',
        id,
        address,
        learner: values.learner === true,
        ...(values.witness === true ? { witness: true } : {}),
        links: readLinks(values.links, signer, id),
      };
    case 'remove':
      return { op: 'remove-member', id };
    case 'rekey':
      return { op: 'rekey-member', id, links: readLinks(values.links, signer, id) };
    default:
      throw new UsageError(`members: unknown verb ${JSON.stringify(verb)}; expected list, add, remove or rekey`);
  }
}

/** The options of `coraft members` and the positional arguments each verb takes, the verb included. */
const MEMBERS_OPTIONS = {
  ...COMMON,
  ...SIGNING_OPTIONS,
  learner: { type: 'boolean' },
  witness: { type: 'boolean' },
  links: { type: 'string' },
} as const;
const MEMBERS_POSITIONALS_MAX = { list: 1, add: 3, remove: 2, rekey: 2 } as const;

export async function runMembers(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, MEMBERS_OPTIONS, MEMBERS_POSITIONALS_MAX);
  const [verb, id, address] = positionals;
  if (values.help === true || verb === undefined) {
    out(MEMBERS_HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  const report = (body: JsonFields, text: string): void =>
    out(values.json === true ? JSON.stringify({ id, leaderId: body.nullableString('leaderId') }) : text);
  const timeouts = { ...values, 'timeout-ms': values['timeout-ms'] ?? '90000' };
  if (verb === 'list') {
    return withClient(
      timeouts,
      async (client) => {
        const document = await client.json('GET', '/members');
        const body = JsonFields.of(document, 'the member list');
        out(
          values.json === true
            ? JSON.stringify(document)
            : membersTable(memberRows(body), body.nullableString('leaderId')),
        );
        return CLIENT_EXIT.ok;
      },
      'admin',
    );
  }
  // The verb first: `members frob` is a wrong verb, not a missing ID or admin key.
  if (!['add', 'remove', 'rekey'].includes(verb))
    throw new UsageError(`members: unknown verb ${JSON.stringify(verb)}; expected list, add, remove or rekey`);
  if (id === undefined) throw new UsageError(`members ${verb}: ID is required`);
  const signer = signerOf(values);
  const operation = membersOperation(verb, id, address, values, signer);
  if (maybeSignOnly(values, signer.sign(operation))) return CLIENT_EXIT.ok;
  return withClient(
    timeouts,
    async (client) => {
      switch (verb) {
        case 'add':
          if (values.json !== true)
            process.stderr.write(
              `adding ${id} at ${address ?? ''}: it joins as a learner, catches up, then becomes a voter...\n`,
            );
          report(
            await sendSigned(client, 'POST', '/members', signer.sign(operation)),
            `added ${id}${values.learner === true ? ' as a learner' : ''}${witnessNote(values.witness)}`,
          );
          return CLIENT_EXIT.ok;
        case 'remove':
          await moveLeadershipFrom(client, signer, id);
          report(await sendSigned(client, 'DELETE', `/members/${id}`, signer.sign(operation)), `removed ${id}`);
          return CLIENT_EXIT.ok;
        default:
          await moveLeadershipFrom(client, signer, id);
          report(
            await sendSigned(client, 'PUT', `/members/${id}/key`, signer.sign(operation)),
            `rekeyed ${id}: install its new bundle and restart it now`,
          );
          return CLIENT_EXIT.ok;
      }
    },
    'admin',
  );
}

export async function runLeader(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    { ...COMMON, ...SIGNING_OPTIONS, to: { type: 'string' } },
    { transfer: 1 },
  );
  if (values.help === true || positionals[0] !== 'transfer') {
    out(
      `usage: coraft leader transfer [--to ID]\n${OPTIONS_HELP}\n\nHands leadership to ID, or to the most ` +
        `up-to-date voter (a signed command).`,
    );
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  const operation: AdminOperation = { op: 'transfer-leadership', to: values.to ?? null };
  const signer = signerOf(values);
  if (maybeSignOnly(values, signer.sign(operation))) return CLIENT_EXIT.ok;
  // As members': the node answers first (a refusal such as 'no leader is known' within 10 s).
  return withClient(
    { ...values, 'timeout-ms': values['timeout-ms'] ?? '90000' },
    async (client) => {
      const leaderId = (await sendSigned(client, 'POST', '/leader/transfer', signer.sign(operation))).nullableString(
        'leaderId',
      );
      out(values.json === true ? JSON.stringify({ leaderId }) : `leader is now ${leaderId ?? '(unknown)'}`);
      return CLIENT_EXIT.ok;
    },
    'admin',
  );
}

export async function runSnapshot(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, {
    ...COMMON,
    ...SIGNING_OPTIONS,
    node: { type: 'string' },
    config: { type: 'string' },
  });
  if (values.help === true) {
    out(
      `usage: coraft snapshot [--node ID | --config FILE]\n${OPTIONS_HELP}\n\nTakes a snapshot on the node now ` +
        `and compacts its log (a signed command naming that node: the endpoint's, or --node ID, or the nodeId of ` +
        `--config FILE, the node's agent.json, whose cluster is then the default of --cluster). --sign-only needs ` +
        `--node or --config and no endpoint.`,
    );
    return CLIENT_EXIT.ok;
  }
  const named = namedNode(values.node, values.config);
  const signer = signerOf({ ...values, cluster: values.cluster ?? named?.cluster ?? undefined });
  if (values['sign-only'] !== undefined) {
    if (named === null)
      throw new UsageError(
        'snapshot --sign-only: name the node to snapshot with --node ID or --config FILE (its agent.json); ' +
          'the command is signed without asking an endpoint',
      );
    maybeSignOnly(values, signer.sign({ op: 'snapshot', node: named.node }));
    return CLIENT_EXIT.ok;
  }
  return withClient(
    values,
    async (client) => {
      const node = JsonFields.of(await client.json('GET', '/status'), 'the status').string('nodeId');
      if (named !== null && named.node !== node)
        throw new EndpointError(
          '4.09',
          `this endpoint is ${node}'s, not ${named.node}'s: point --endpoint at ${named.node}`,
        );
      const body = await sendSigned(client, 'POST', '/snapshot', signer.sign({ op: 'snapshot', node }));
      const nodeId = body.string('nodeId');
      const snapshotIndex = body.number('snapshotIndex');
      out(
        values.json === true
          ? JSON.stringify({ nodeId, snapshotIndex })
          : `${nodeId}: snapshot at index ${snapshotIndex}`,
      );
      return CLIENT_EXIT.ok;
    },
    'admin',
  );
}

const ADMIN_HELP = `usage: coraft admin set-key --public-key FILE
       coraft admin submit SIGNED_FILE
${OPTIONS_HELP}

set-key rotates the admin key: commits FILE (the new Ed25519 public key, PEM), signed with the
current admin key (--admin-key). From then on every node accepts only the new key.
submit sends a command signed elsewhere (--sign-only) to this endpoint; no admin key needed.`;

/** Sends a command signed elsewhere; the node checks it like any other. */
async function submit(
  values: Parameters<typeof withClient>[0] & { json?: boolean | undefined },
  file: string,
): Promise<number> {
  const envelope = new TextEncoder().encode(readText(file, 'admin submit'));
  return withClient(
    values,
    async (client) => {
      const body = await sendSigned(client, 'POST', '/admin', envelope);
      out(
        values.json === true
          ? JSON.stringify({ leaderId: body.nullableString('leaderId') })
          : `done: ${body.nullableString('op') ?? 'command'} applied`,
      );
      return CLIENT_EXIT.ok;
    },
    'admin',
  );
}

export async function runAdmin(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      ...COMMON,
      ...SIGNING_OPTIONS,
      'public-key': { type: 'string' },
    },
    { submit: 2, 'set-key': 1 },
  );
  if (positionals[0] === 'submit' && values.help !== true) {
    const file = positionals[1];
    if (file === undefined) throw new UsageError('admin submit: SIGNED_FILE is required');
    return submit(values, file);
  }
  if (values.help === true || positionals[0] !== 'set-key') {
    out(ADMIN_HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  const file = values['public-key'];
  if (file === undefined) throw new UsageError('admin set-key: --public-key FILE is required');
  const publicKey = readText(file, '--public-key');
  if (publicKeyFromText(publicKey) === null)
    throw new UsageError(`--public-key: ${file} is not an Ed25519 public key (PEM)`);
  const signer = signerOf(values);
  const envelope = signer.sign({ op: 'set-admin-key', publicKey });
  if (maybeSignOnly(values, envelope)) return CLIENT_EXIT.ok;
  return withClient(
    values,
    async (client) => {
      const body = await sendSigned(client, 'POST', '/admin', envelope);
      out(
        values.json === true
          ? JSON.stringify({ leaderId: body.nullableString('leaderId') })
          : 'the new admin key is in force on every node',
      );
      return CLIENT_EXIT.ok;
    },
    'admin',
  );
}
