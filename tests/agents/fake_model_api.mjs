// A fake model API on loopback for the real-CLI tests: the Anthropic Messages API (POST /v1/messages,
// streaming SSE, as Claude Code calls it) and the OpenAI Responses API (POST /v1/responses, streaming
// SSE, as Codex CLI calls it), driven by a script of turns. Test tooling only; listens on 127.0.0.1.
//
// Usage: node fake_model_api.mjs --script script.json --record requests.jsonl --port-file port.txt
// The port file is written (atomically, by rename) once the server listens.
//
// script.json: {"steps": [step, ...]}. Each request that offers tools (the agent's own turns) takes
// the next step; a request without tools (side requests such as titles) gets a short text answer.
// After the last step every further turn gets the last step again (an agent that loops still ends).
//   {"bash": "cmd"}                      claude: tool_use Bash; codex: function_call shell/exec_command
//   {"text": "final answer"}             an assistant message that ends the turn
//   {"status": 429, "headers": {...}, "body": {...}}   an HTTP error, for every request from then on
//   optional on any step: "usage": {"input_tokens": n, "output_tokens": n}
// Or {"each_session": {"bash": "cmd", "text": "answer"}}: stateless, for many concurrent sessions (the
// sandbox scenario): a turn whose last message carries a tool result gets the text, any other the command.
// Every request is appended to the record file as one JSON line: {path, headers, body}.
import fs from 'node:fs';
import http from 'node:http';

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const script = JSON.parse(fs.readFileSync(args.script, 'utf8'));
const steps = script.steps ?? [];
let next = 0;
let sticky = null;  // an error step, once reached, answers everything after it
let ids = 0;

// True when the conversation's last message returns a tool's result (Anthropic tool_result blocks, or
// OpenAI function_call_output items).
function answersATool(body) {
  const msgs = body.messages ?? [];
  const last = msgs[msgs.length - 1];
  if (last && Array.isArray(last.content) && last.content.some((b) => b.type === 'tool_result')) return true;
  const input = Array.isArray(body.input) ? body.input : [];
  return input.length > 0 && input[input.length - 1].type === 'function_call_output';
}

function takeStep(hasTools, body) {
  if (sticky) return sticky;
  if (script.each_session) {
    const e = script.each_session;
    if (!hasTools) return { text: 'ok', side: true };
    return answersATool(body) ? { text: e.text ?? 'done', usage: e.usage } : { bash: e.bash, usage: e.usage };
  }
  if (!hasTools) return { text: 'ok', side: true };
  const step = steps[Math.min(next, steps.length - 1)] ?? { text: 'done' };
  next++;
  if (step.status) sticky = step;
  return step;
}

function usageOf(step) {
  return { input_tokens: step.usage?.input_tokens ?? 100, output_tokens: step.usage?.output_tokens ?? 20 };
}

function sse(res, events) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${++ids}` });
  for (const [name, data] of events) res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
}

function anthropic(res, body, step) {
  const u = usageOf(step);
  const model = body.model ?? 'claude-fake';
  const msg = { id: `msg_${++ids}`, type: 'message', role: 'assistant', model, content: [], stop_reason: null,
                stop_sequence: null, usage: { input_tokens: u.input_tokens, output_tokens: 1,
                cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } };
  const ev = [['message_start', { type: 'message_start', message: msg }]];
  let stop = 'end_turn';
  if (step.bash !== undefined) {
    stop = 'tool_use';
    const input = JSON.stringify({ command: step.bash, description: 'scripted command' });
    ev.push(['content_block_start', { type: 'content_block_start', index: 0,
      content_block: { type: 'tool_use', id: `toolu_${++ids}`, name: 'Bash', input: {} } }]);
    ev.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: input } }]);
  } else {
    ev.push(['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }]);
    ev.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: step.text ?? 'done' } }]);
  }
  ev.push(['content_block_stop', { type: 'content_block_stop', index: 0 }]);
  ev.push(['message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: u.output_tokens } }]);
  ev.push(['message_stop', { type: 'message_stop' }]);
  sse(res, ev);
}

// The name and arguments of the shell tool this Codex build offers (it has changed between releases).
function codexShellCall(body, command) {
  const names = (body.tools ?? []).map((t) => t.name ?? t.type);
  if (names.includes('shell')) return { name: 'shell', arguments: JSON.stringify({ command: ['bash', '-lc', command] }) };
  if (names.includes('exec_command')) return { name: 'exec_command', arguments: JSON.stringify({ cmd: command }) };
  if (names.includes('shell_command')) return { name: 'shell_command', arguments: JSON.stringify({ command }) };
  return { name: 'shell', arguments: JSON.stringify({ command: ['bash', '-lc', command] }) };
}

function openai(res, body, step) {
  const u = usageOf(step);
  const id = `resp_${++ids}`;
  const base = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), model: body.model ?? 'gpt-fake', status: 'in_progress', output: [] };
  let item;
  if (step.bash !== undefined) {
    const call = codexShellCall(body, step.bash);
    item = { type: 'function_call', id: `fc_${++ids}`, call_id: `call_${++ids}`, status: 'completed', ...call };
  } else {
    item = { type: 'message', id: `msg_${++ids}`, role: 'assistant', status: 'completed',
             content: [{ type: 'output_text', text: step.text ?? 'done', annotations: [] }] };
  }
  const usage = { input_tokens: u.input_tokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: u.output_tokens,
                  output_tokens_details: { reasoning_tokens: 0 }, total_tokens: u.input_tokens + u.output_tokens };
  sse(res, [
    ['response.created', { type: 'response.created', response: base }],
    ['response.output_item.added', { type: 'response.output_item.added', output_index: 0, item }],
    ['response.output_item.done', { type: 'response.output_item.done', output_index: 0, item }],
    ['response.completed', { type: 'response.completed', response: { ...base, status: 'completed', output: [item], usage } }],
  ]);
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    let body = {};
    try { body = raw ? JSON.parse(raw) : {}; } catch { body = { unparsed: raw.slice(0, 200) }; }
    const path = req.url.split('?')[0];
    const isAgentCall = req.method === 'POST' && (path.endsWith('/messages') || path.endsWith('/responses'));
    const hasTools = Array.isArray(body.tools) && body.tools.length > 0;
    const step = isAgentCall ? takeStep(hasTools, body) : null;
    fs.appendFileSync(args.record, JSON.stringify({ method: req.method, path, headers: req.headers, body,
                                                    answered: step ? (step.status ?? 200) : 404 }) + '\n');
    if (!isAgentCall) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"type":"not_found_error","message":"not in the fake"}}');
      return;
    }
    if (step.status) {
      res.writeHead(step.status, { 'content-type': 'application/json', ...(step.headers ?? {}) });
      res.end(JSON.stringify(step.body ?? {}));
      return;
    }
    if (path.endsWith('/messages')) anthropic(res, body, step);
    else openai(res, body, step);
  });
});
server.listen(0, '127.0.0.1', () => {
  const tmp = `${args['port-file']}.tmp`;
  fs.writeFileSync(tmp, String(server.address().port));
  fs.renameSync(tmp, args['port-file']);
});
process.on('SIGTERM', () => process.exit(0));
