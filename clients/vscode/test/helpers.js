'use strict';
// Shared test helpers: a live periscoped on a temporary socket, and a python server/client pair.
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const BIN = process.env.PERISCOPE_BIN || path.join(REPO, '.build', 'debug');
const DAEMON = path.join(BIN, 'periscoped');
const PYTHON = process.env.PYTHON || 'python3';

function daemonMissing() {
  return fs.existsSync(DAEMON) ? false : `${DAEMON} not built (swift build --product periscoped)`;
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function waitFor(what, fn, timeoutMs = 10000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Starts periscoped; resolves to {socket, dir, proc, stop()} once its socket exists. */
async function startDaemon({ collectors = true, socket, extra = [] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'periscope-vscode-'));
  socket = socket || path.join(dir, 'periscope.sock');
  const args = ['--socket', socket, '--log-level', 'warning'];
  if (collectors) args.push('--refresh-ms', '200');
  else args.push('--no-collectors');
  const proc = spawn(DAEMON, args.concat(extra), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  await waitFor('the daemon socket', () => {
    if (proc.exitCode !== null) throw new Error(`periscoped exited: ${stderr}`);
    return fs.existsSync(socket);
  }, 20000, 20);
  return {
    socket, dir, proc,
    get stderr() { return stderr; },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      let timer;
      const r = await Promise.race([exited, new Promise((res) => { timer = setTimeout(() => res(null), 10000); })]);
      clearTimeout(timer);
      if (!r) { proc.kill('SIGKILL'); throw new Error('periscoped did not stop on SIGTERM'); }
      return r;
    },
  };
}

const PAIR = String.raw`
import os, socket, sys, threading, time
mode = sys.argv[1]
if mode == "server":
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    print("READY %d %d" % (os.getpid(), s.getsockname()[1]), flush=True)
    def serve(c):
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)
    def accept():
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
else:
    c = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
    print("READY %d %d" % (os.getpid(), c.getsockname()[1]), flush=True)
    def talk():
        while True:
            c.sendall(b"x" * 4096)
            got = 0
            while got < 4096:
                got += len(c.recv(65536))
            time.sleep(0.05)
    threading.Thread(target=talk, daemon=True).start()
sys.stdin.read()
`;

/** Spawns `python3 pair.py MODE ...` with cwd `cwd`; resolves to {proc, pid, port, stop()} after READY. */
function startPython(cwd, mode, ...args) {
  const script = path.join(cwd, 'pair.py');
  if (!fs.existsSync(script)) fs.writeFileSync(script, PAIR);
  const proc = spawn(PYTHON, [script, mode, ...args.map(String)], { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /READY (\d+) (\d+)/.exec(out);
      if (m) resolve({ proc, pid: Number(m[1]), port: Number(m[2]), stop() { proc.stdin.end(); proc.kill(); } });
    });
    proc.once('exit', (code) => reject(new Error(`python ${mode} exited with ${code}`)));
  });
}

/** A temporary "workspace" folder with a server and a client process started in it. */
async function startPair() {
  const workspace = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'periscope-ws-')));
  const server = await startPython(workspace, 'server');
  const client = await startPython(workspace, 'client', server.port);
  return { workspace, server, client, stop() { client.stop(); server.stop(); } };
}

module.exports = { REPO, BIN, DAEMON, daemonMissing, sleep, waitFor, startDaemon, startPython, startPair };
