/*
 * Test harness for the browser tests: a fresh PostgreSQL database, a
 * self-signed certificate, config.json and a running sse-platform per test
 * file; headless Debian Chromium through playwright-core; and a watch on
 * every page for console errors, CSP violations, failed loads and requests
 * that leave the platform's origin.
 *
 * Environment (scripts/test sets all of them):
 *   SSE_TEST_PG        libpq conninfo of a role with CREATEDB (required)
 *   SSE_PLATFORM_BIN   server binary   (default <repo>/target/debug/sse-platform)
 *   HELLO_MODULE_BIN   example module  (default <repo>/target/debug/examples/hello_module)
 *   CHROME_BIN         Chromium        (default /usr/bin/chromium)
 */
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

const run = promisify(execFile);

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SERVER_BIN = process.env.SSE_PLATFORM_BIN || path.join(REPO, 'target/debug/sse-platform');
export const MODULE_BIN = process.env.HELLO_MODULE_BIN || path.join(REPO, 'target/debug/examples/hello_module');
export const CHROME_BIN = process.env.CHROME_BIN || '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.join(REPO, 'docs/screenshots');

export const ADMIN = { name: 'admin', email: 'admin@example.org', password: 'admin-password-1' };

export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 360, height: 740 },
};

// The ListServ key pair of tests/data/vectors.json (the Rust hub tests use it too).
export const LISTSERV = {
  name: 'ListServ',
  signingKey: 'AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=',
  verifyKey: 'iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=',
};

const STARTUP_TIMEOUT_MS = 20_000;

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Same pixels on every run (else rounded corners differ by a shade from run
  // to run, and docs/screenshots would change with every test run).
  '--num-raster-threads=1', '--run-all-compositor-stages-before-draw', '--disable-checker-imaging',
  '--disable-threaded-animation', '--disable-threaded-scrolling', '--disable-partial-raster',
];

// Children still running when the runner exits (a failed before(), say) die with it.
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

const hex = (bytes) => randomBytes(bytes).toString('hex');

function conninfo() {
  const value = process.env.SSE_TEST_PG;
  if (!value || !value.trim()) {
    throw new Error('SSE_TEST_PG is not set: run scripts/test, or '
      + 'export SSE_TEST_PG="$(scripts/pg-cluster url .local/test-pg)"');
  }
  // key=value pairs without quoting, as scripts/pg-cluster writes them.
  return Object.fromEntries(value.trim().split(/\s+/).map((kv) => {
    const i = kv.indexOf('=');
    return [kv.slice(0, i), kv.slice(i + 1)];
  }));
}

async function psql(sql) {
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', process.env.SSE_TEST_PG, '-c', sql]);
}

/* A child process whose stdout is read line by line until `pattern` matches. */
function spawnUntil(bin, args, { cwd, pattern, what }) {
  const child = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const output = { stdout: '', stderr: '' };
  child.stderr.setEncoding('utf8').on('data', (s) => {
    // Keep the tail only: enough to explain a failure.
    output.stderr = (output.stderr + s).slice(-20_000);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `${what} did not print ${pattern} within ${STARTUP_TIMEOUT_MS} ms; stderr:\n${output.stderr}`,
    )), STARTUP_TIMEOUT_MS);
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`${what}: ${e.message}`)); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}) during start-up; stderr:\n${output.stderr}`));
    });
    child.stdout.setEncoding('utf8').on('data', (s) => {
      output.stdout += s;
      const match = output.stdout.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  };
  return { child, ready, stop, output };
}

/*
 * A running platform: fresh database, certificate, config and process.
 * `config` adds or replaces config keys (e.g. token_ttl_seconds).
 */
export async function startPlatform({ config = {}, verifyKeys = {} } = {}) {
  const pg = conninfo();
  const dbname = `browser_${hex(6)}`;
  await psql(`CREATE DATABASE ${dbname}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'sse-browser-'));
  const cleanup = async () => {
    await psql(`DROP DATABASE IF EXISTS ${dbname} WITH (FORCE)`).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const cert = path.join(dir, 'cert.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      // Not a CA: the module's TLS client (webpki) rejects a CA certificate used as a server's.
      '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth',
      '-days', '2', '-keyout', path.join(dir, 'key.pem'), '-out', cert,
    ]);
    const cookieSecret = `browser-test-${hex(16)}`;
    await writeFile(path.join(dir, 'verify_keys.json'), JSON.stringify(verifyKeys));
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({
      ssl_cert: 'cert.pem',
      ssl_key: 'key.pem',
      pguser: pg.user,
      pgpassword: pg.password || '',
      pghost: pg.host || '127.0.0.1',
      pgport: Number(pg.port || 5432),
      pgdb: dbname,
      cookie_secret: cookieSecret,
      platform_admin_username: ADMIN.name,
      platform_admin_password: ADMIN.password,
      platform_admin_email: ADMIN.email,
      port: 0,
      bind: '127.0.0.1',
      bcrypt_cost: 4,
      verify_keys: 'verify_keys.json',
      worker_threads: 4,
      hash_threads: 2,
      pg_pool_size: 4,
      ...config,
    }, null, 2));

    const proc = spawnUntil(SERVER_BIN, ['-c', 'config.json', '--create_admin'], {
      cwd: dir,
      pattern: /sse-platform listening on (https:\/\/127\.0\.0\.1:(\d+))/,
      what: 'sse-platform',
    });
    const match = await proc.ready.catch(async (e) => { await proc.stop(); throw e; });
    return {
      url: match[1],
      origin: new URL(match[1]).origin,
      port: Number(match[2]),
      dir,
      cert,
      cookieSecret,
      log: () => proc.output.stderr,
      async stop() {
        await proc.stop();
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/* examples/hello_module registered as `ListServ` over the platform's WebSocket hub. */
export async function startHelloModule(platform) {
  const keyFile = path.join(platform.dir, 'listserv.key');
  await writeFile(keyFile, LISTSERV.signingKey, { mode: 0o600 });
  const proc = spawnUntil(MODULE_BIN, [
    '--platform', `wss://127.0.0.1:${platform.port}/websocket`,
    '--name', LISTSERV.name,
    '--key', keyFile,
    '--ca', platform.cert,
    '--cookie-secret', platform.cookieSecret,
    '--port', '0',
  ], {
    cwd: platform.dir,
    pattern: /hello_module listening on http:\/\/127\.0\.0\.1:(\d+)/,
    what: 'hello_module',
  });
  const match = await proc.ready.catch(async (e) => { await proc.stop(); throw e; });
  return { port: Number(match[1]), stop: proc.stop, log: () => proc.output.stderr };
}

export async function launchBrowser() {
  // Playwright gives every launch a fresh temporary --user-data-dir.
  return chromium.launch({ executablePath: CHROME_BIN, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/*
 * A new browser context (own cookies) on `platform` and a page in it, with
 * a watch on everything the page does. `viewport`: a key of VIEWPORTS or a size.
 */
export async function openPage(browser, platform, { viewport = 'desktop' } = {}) {
  const context = await browser.newContext({
    baseURL: platform.url,
    ignoreHTTPSErrors: true,
    viewport: typeof viewport === 'string' ? VIEWPORTS[viewport] : viewport,
    reducedMotion: 'reduce',
    locale: 'en-US',
  });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const watch = await watchContext(context, platform);
  const page = await context.newPage();
  return { context, page, watch };
}

async function watchContext(context, platform) {
  const watch = {
    requests: [],     // every URL any page of the context requested
    problems: [],     // console errors, page errors, CSP violations, failed loads
    apiErrors: [],    // "METHOD /path STATUS" of every API call answered 4xx
  };
  await context.exposeBinding('__sseReportCsp', ({ page }, text) => {
    watch.problems.push(`CSP violation on ${page.url()}: ${text}`);
  });
  // Init scripts and bindings run outside the page's CSP, so this sees every violation.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__sseReportCsp(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
    });
  });
  // Requests still unanswered after 5 s are reported on stderr: a hung
  // navigation then says which request it waits for.
  const inflight = new Map();
  const stuckTimer = setInterval(() => {
    for (const [request, since] of inflight) {
      if (Date.now() - since < 5_000) continue;
      process.stderr.write(`# still waiting after 5 s: ${request.method()} ${request.url()} (${request.resourceType()})\n`);
      inflight.delete(request);
    }
  }, 1_000);
  stuckTimer.unref();
  context.on('close', () => clearInterval(stuckTimer));
  const attach = (page) => {
    page.on('request', (request) => {
      watch.requests.push(request.url());
      inflight.set(request, Date.now());
    });
    page.on('requestfinished', (request) => inflight.delete(request));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      // Chromium logs every 4xx fetch as an error: the 'response' handler
      // below records those (tests list the ones they expect) and flags
      // failed page and asset loads.
      if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
      watch.problems.push(`console error on ${page.url()}: ${text}`);
    });
    page.on('pageerror', (error) => watch.problems.push(`page error on ${page.url()}: ${error.message}`));
    page.on('response', (response) => {
      const type = response.request().resourceType();
      const status = response.status();
      const api = type === 'fetch' || type === 'xhr';
      if (status >= 500 || (status >= 400 && !api)) {
        watch.problems.push(`${status} for ${type} ${response.url()}`);
      } else if (status >= 400) {
        watch.apiErrors.push(`${response.request().method()} ${new URL(response.url()).pathname} ${status}`);
      }
    });
    page.on('requestfailed', (request) => {
      inflight.delete(request);
      const reason = request.failure()?.errorText || '';
      // A fetch cut short because the page navigated away is normal.
      if (reason === 'net::ERR_ABORTED') return;
      watch.problems.push(`request failed: ${request.url()} (${reason})`);
    });
  };
  context.on('page', attach);
  /*
   * Asserts nothing went wrong and nothing left the platform's origin;
   * `apiErrors` lists the 4xx API answers the test provoked on purpose,
   * `otherOrigins` the origins the test itself navigated to (a module's page).
   */
  watch.assertClean = ({ apiErrors = [], otherOrigins = [] } = {}) => {
    assert.deepEqual(watch.problems, [], 'console errors, CSP violations or failed loads');
    assert.deepEqual(watch.apiErrors.slice().sort(), apiErrors.slice().sort(), 'API calls answered 4xx');
    const allowed = new Set([platform.origin, ...otherOrigins]);
    const foreign = watch.requests.filter((url) => !allowed.has(new URL(url).origin));
    assert.deepEqual(foreign, [], `requests that left ${platform.origin}`);
    assert.ok(watch.requests.length > 0, 'the watch saw no request at all');
  };
  return watch;
}

/* Registers through the page, as a person would; ends on /main. */
export async function register(page, { email, nickname, password, remember = false }) {
  await page.goto('/register');
  await page.getByTestId('register-email').fill(email);
  await page.getByTestId('register-nickname').fill(nickname);
  await page.getByTestId('register-password').fill(password);
  await page.getByTestId('register-confirm').fill(password);
  if (remember) await page.getByTestId('register-remember').check();
  await page.getByTestId('register-submit').click();
  await page.waitForURL('**/main');
  await waitForText(page.getByTestId('user-name'), nickname);
}

/* Logs in through the page; ends on /main with the user's name shown. */
export async function login(page, { identifier, password, name = identifier }) {
  await page.goto('/login');
  await page.getByTestId('login-identifier').fill(identifier);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL('**/main');
  await waitForText(page.getByTestId('user-name'), name);
}

/* Waits until the locator's trimmed text is `text` (or matches a RegExp). */
export async function waitForText(locator, text, { timeout = 10_000 } = {}) {
  let seen;
  await waitFor(async () => {
    seen = await locator.textContent({ timeout: 1_000 }).then((t) => t.trim(), () => null);
    return seen !== null && (text instanceof RegExp ? text.test(seen) : seen === text);
  }, { timeout, what: () => `text ${text} in ${locator} (saw ${JSON.stringify(seen)})` });
}

/* Polls `fn` until it returns a truthy value (an expect.poll without a framework). */
export async function waitFor(fn, { timeout = 10_000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/* A screenshot for docs/screenshots/<name>-<viewport>.png. */
export async function screenshot(page, name, viewport) {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}-${viewport}.png`);
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled', caret: 'hide', scale: 'css' });
  return file;
}

/* Unique test user data (names stay short to fit the pages). */
export function newUser(prefix = 'user') {
  const id = hex(3);
  return { nickname: `${prefix}${id}`, email: `${prefix}${id}@example.org`, password: `pw-${hex(6)}` };
}

/*
 * The set-up every test file shares: one platform and one browser for the
 * describe block that calls this, every page context closed at the end.
 * `fresh()` opens a page in a new context; `onStop(fn)` runs `fn` (stopping
 * a module, say) before the platform stops.
 */
export function suiteSetup(platformOptions) {
  const contexts = [];
  const stops = [];
  const suite = {
    platform: null,
    browser: null,
    async fresh(options) {
      const opened = await openPage(suite.browser, suite.platform, options);
      contexts.push(opened.context);
      return opened;
    },
    onStop(fn) {
      stops.push(fn);
    },
  };
  before(async () => {
    [suite.platform, suite.browser] = await Promise.all([startPlatform(platformOptions), launchBrowser()]);
  });
  after(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => {})));
    await suite.browser?.close();
    for (const stop of stops) await stop();
    await suite.platform?.stop();
  });
  return suite;
}
