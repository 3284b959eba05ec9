import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ControlShell } from '../src/transport/ssh.js';
import { GitRunError, ErrorCode } from '../src/errors/index.js';

/** A stand-in for an ssh channel: what the shell is sent, and a way to answer as a (hostile) host would. */
class FakeChannel extends EventEmitter {
  written = '';
  ended = false;
  stderr = new EventEmitter();
  write(s: string): boolean {
    this.written += s;
    return true;
  }
  end(): void {
    this.ended = true;
  }
  /** The token of the last request the shell wrote. */
  token(): string {
    return /printf '@@%s %d %d %d\\n' ([0-9a-f]{16})/.exec(this.written.split('\n').filter(Boolean).pop() ?? '')?.[1] ?? '';
  }
}

/** Steps are queued: the request is written a moment after run(). */
const settle = () => new Promise((r) => setImmediate(r));

const fail = (e: Error) => new GitRunError(ErrorCode.SshFailed, `connection to box failed: ${e.message}`);
const make = () => {
  const ch = new FakeChannel();
  return { ch, shell: new ControlShell(ch as never, fail) };
};

describe('the control shell treats what the host sends as hostile', () => {
  it('a well-formed answer gives exit code, stdout and stderr, byte for byte', async () => {
    const { ch, shell } = make();
    const p = shell.run("echo 'a b'");
    await settle();
    assert.match(ch.written, /^sh -c 'echo '\\''a b'\\''' <\/dev\/null/, 'the script is one quoted argument');
    const out = Buffer.from([0, 255, 10, 65]);
    ch.emit('data', Buffer.concat([Buffer.from(`@@${ch.token()} 3 4 2\n`), out, Buffer.from('e!')]));
    const r = await p;
    assert.equal(r.code, 3);
    assert.deepEqual(r.stdout, out);
    assert.equal(r.stderr, 'e!');
  });

  it('answers split across packets are put together; steps run one at a time', async () => {
    const { ch, shell } = make();
    const a = shell.run('true');
    const b = shell.run('false');
    await settle();
    assert.equal(ch.written.split('\n').filter(Boolean).length, 1, 'the second waits for the first');
    const t = ch.token();
    for (const piece of [`@@${t}`, ' 0 2', ' 0\n', 'o', 'k']) ch.emit('data', Buffer.from(piece));
    assert.equal((await a).stdout.toString(), 'ok');
    await settle();
    ch.emit('data', Buffer.from(`@@${ch.token()} 1 0 0\n`));
    assert.equal((await b).code, 1);
  });

  const refused: Array<[string, (t: string) => Buffer]> = [
    ['a wrong token', () => Buffer.from('@@0123456789abcdef 0 0 0\n')],
    ['output nobody asked for', () => Buffer.from('hello\n')],
    ['a count that is not a number', (t) => Buffer.from(`@@${t} 0 x 0\n`)],
    ['more than 64 MiB announced', (t) => Buffer.from(`@@${t} 0 ${64 * 2 ** 20} 1\n`)],
    ['more bytes than announced', (t) => Buffer.from(`@@${t} 0 1 0\nab`)],
    ['a header line that never ends', () => Buffer.from('@'.repeat(300))],
  ];
  for (const [what, answer] of refused) {
    it(`refuses ${what}, fails the step and closes the shell`, async () => {
      const { ch, shell } = make();
      const p = shell.run('true');
      await settle();
      ch.emit('data', answer(ch.token()));
      await assert.rejects(p, (e: unknown) => e instanceof GitRunError && e.code === ErrorCode.SshFailed);
      assert.equal(shell.alive, false);
      assert.equal(ch.ended, true);
      await assert.rejects(shell.run('true'), /connection to box failed/, 'a dead shell takes no more steps');
    });
  }

  it('a channel that closes mid-answer fails the step', async () => {
    const { ch, shell } = make();
    const p = shell.run('sleep 1');
    await settle();
    ch.emit('data', Buffer.from(`@@${ch.token()} 0 10 0\nabc`));
    ch.emit('close');
    await assert.rejects(p, /control session ended/);
  });
});
