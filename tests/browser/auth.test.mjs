/*
 * Register, log in (name, email, keyboard only), wrong password, log out,
 * and what every page response and page load must look like: security
 * headers, no console errors or CSP violations, no request to another origin.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, login, newUser, register, suiteSetup, waitFor, waitForText,
} from './harness.mjs';

describe('log in, register, log out', () => {
  const { fresh } = suiteSetup();

  test('registering lands on the user page showing the name', async () => {
    const { page, watch } = await fresh();
    const user = newUser('reg');
    await register(page, user);
    assert.equal(new URL(page.url()).pathname, '/main');
    await waitForText(page.getByTestId('user-role'), 'guest');
    assert.equal(await page.getByTestId('admin-section').isVisible(), false, 'admin part hidden for a guest');
    await waitForText(page.getByTestId('modules-empty'), 'No modules are running.');
    assert.equal(await page.getByTestId('page-error').textContent(), '');
    watch.assertClean();
  });

  test('a taken nickname is refused next to the field', async () => {
    const { page, watch } = await fresh();
    const user = newUser('dup');
    await register(page, user);
    const { page: other } = await fresh();
    await other.goto('/register');
    await other.getByTestId('register-email').fill(`other-${user.email}`);
    await other.getByTestId('register-nickname').fill(user.nickname);
    await other.getByTestId('register-password').fill(user.password);
    await other.getByTestId('register-confirm').fill(user.password);
    await other.getByTestId('register-submit').click();
    await waitForText(other.getByTestId('register-nickname-error'),
      'This nickname is already taken. Please choose another one.');
    assert.equal(new URL(other.url()).pathname, '/register');
    assert.equal(await other.getByTestId('register-nickname').getAttribute('aria-invalid'), 'true');
    watch.assertClean();
  });

  test('logging out returns to the login page and ends the session', async () => {
    const { page, watch } = await fresh();
    const user = newUser('out');
    await register(page, user);
    await page.getByTestId('logout-button').click();
    await page.waitForURL('**/login');
    assert.equal(await page.getByTestId('login-form').isVisible(), true);
    // The session is gone on the server too: /main sends us back.
    await page.goto('/main');
    assert.equal(new URL(page.url()).pathname, '/login');
    watch.assertClean();
  });

  test('a wrong password shows a readable message and stays on the login page', async () => {
    const { page, watch } = await fresh();
    const user = newUser('wrong');
    await register(page, user);
    await page.context().clearCookies();

    await page.goto('/login');
    await page.getByTestId('login-identifier').fill(user.nickname);
    await page.getByTestId('login-password').fill(`${user.password}-not`);
    await page.getByTestId('login-submit').click();
    await waitForText(page.getByTestId('login-password-error'), 'The password is not correct.');
    assert.equal(await page.getByTestId('login-password').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'login-password', 'focus on the field to fix');
    assert.equal(new URL(page.url()).pathname, '/login');

    await page.getByTestId('login-identifier').fill('nobody-here');
    await page.getByTestId('login-submit').click();
    await waitForText(page.getByTestId('login-identifier-error'), 'No account was found with that name or email.');
    // The earlier message is cleared, not left standing beside the new one.
    assert.equal(await page.getByTestId('login-password-error').textContent(), '');

    await page.getByTestId('login-identifier').fill('');
    await page.getByTestId('login-submit').click();
    await waitForText(page.getByTestId('login-identifier-error'), 'Please fill in this field.');
    watch.assertClean({ apiErrors: ['POST /login 401', 'POST /login 409'] });
  });

  test('logging in by email', async () => {
    const { page, watch } = await fresh();
    const user = newUser('mail');
    await register(page, user);
    await page.context().clearCookies();
    await login(page, { identifier: user.email, password: user.password, name: user.nickname });
    await waitForText(page.getByTestId('user-role'), 'guest');
    watch.assertClean();
  });

  test('logging in with the keyboard only (Tab and Enter, no mouse)', async () => {
    const { page, watch } = await fresh();
    await page.goto('/login');
    const focused = () => page.evaluate(() => document.activeElement && document.activeElement.id);
    const ring = () => page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return el.matches(':focus-visible') && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
    });

    // Tab order: the selected tab, then the form's fields in reading order.
    const order = ['tab-login', 'login-identifier', 'login-password', 'login-remember', 'login-submit'];
    const seen = [];
    for (let i = 0; i < order.length; i += 1) {
      await page.keyboard.press('Tab');
      seen.push(await focused());
      assert.ok(await ring(), `a visible focus ring on #${seen.at(-1)}`);
      if (seen.at(-1) === 'login-identifier') await page.keyboard.type(ADMIN.name);
      if (seen.at(-1) === 'login-password') await page.keyboard.type(ADMIN.password);
    }
    assert.deepEqual(seen, order);

    // Arrow keys move between the tabs (and back), as the tabs pattern says.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(), 'tab-login');
    await page.keyboard.press('ArrowRight');
    assert.equal(await focused(), 'tab-register');
    assert.equal(await page.getByTestId('panel-register').isVisible(), true);
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.getByTestId('panel-login').isVisible(), true);

    // Into the password field and Enter submits the form.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'login-password');
    await page.keyboard.press('Enter');
    await page.waitForURL('**/main');
    await waitForText(page.getByTestId('user-name'), ADMIN.name);
    watch.assertClean();
  });

  test('pages send the security headers', async () => {
    const { page, watch } = await fresh();
    const user = newUser('hdr');
    await register(page, user);
    for (const path of ['/login', '/register', '/forgot_password?phrase=abc', '/main', '/password/change']) {
      const response = await page.goto(path);
      assert.equal(response.status(), 200, path);
      assert.equal(new URL(page.url()).pathname, path.split('?')[0], `${path} was not redirected`);
      const headers = response.headers();
      const csp = headers['content-security-policy'];
      assert.ok(csp, `${path}: Content-Security-Policy`);
      const directives = Object.fromEntries(csp.split(';').map((d) => d.trim()).filter(Boolean)
        .map((d) => { const [name, ...values] = d.split(/\s+/); return [name, values]; }));
      assert.deepEqual(directives['default-src'], ["'self'"], `${path}: default-src 'self' only`);
      assert.deepEqual(directives['frame-ancestors'], ["'none'"], `${path}: frame-ancestors`);
      for (const [name, values] of Object.entries(directives)) {
        for (const value of values) {
          assert.match(value, /^('self'|'none'|data:)$/, `${path}: ${name} allows only the platform, not ${value}`);
        }
      }
      assert.equal(headers['x-frame-options'], 'DENY', `${path}: X-Frame-Options`);
      assert.equal(headers['x-content-type-options'], 'nosniff', `${path}: X-Content-Type-Options`);
    }
    // Scripts and styles are sent with their types, and nosniff too.
    for (const asset of ['/javascripts/common.js', '/css/style.css']) {
      const response = await page.request.get(asset);
      assert.equal(response.status(), 200, asset);
      assert.equal(response.headers()['x-content-type-options'], 'nosniff', asset);
      assert.match(response.headers()['content-type'], asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
    }
    watch.assertClean();
  });

  test('no page has console errors or CSP violations, and no request leaves the origin', async () => {
    const { page, watch } = await fresh();
    const user = newUser('clean');
    await page.goto('/login');
    await page.getByTestId('forgot-toggle').click();
    assert.equal(await page.getByTestId('forgot-section').isVisible(), true);
    await page.getByTestId('tab-register').click();
    assert.equal(new URL(page.url()).pathname, '/register');
    await page.goto('/forgot_password?phrase=abc');
    await page.goto('/forgot_password');
    await waitForText(page.getByTestId('reset-password-error'), /password reset link is incomplete/);
    await register(page, user);
    await waitFor(() => page.getByTestId('modules-empty').textContent().then((t) => t !== 'Loading…'),
      { what: 'the module list to load' });
    await page.getByTestId('change-password-link').click();
    await page.waitForURL('**/password/change');
    await page.getByTestId('back-link').click();
    await page.waitForURL('**/main');
    await page.getByTestId('delete-account-button').click();
    assert.equal(await page.getByTestId('delete-dialog').isVisible(), true);
    await page.getByTestId('delete-cancel-button').click();
    assert.equal(await page.getByTestId('delete-dialog').isVisible(), false);
    // The admin page loads more (user list) from the same origin only.
    await page.context().clearCookies();
    await login(page, { identifier: ADMIN.name, password: ADMIN.password });
    assert.equal(await page.getByTestId('admin-section').isVisible(), true);
    await page.locator(`#users-tbody tr[data-user-name="${user.nickname}"]`).waitFor();
    const paths = new Set(watch.requests.map((url) => new URL(url).pathname));
    for (const expected of ['/css/style.css', '/javascripts/common.js', '/me', '/execution/running', '/users']) {
      assert.ok(paths.has(expected), `the watch saw ${expected}`);
    }
    watch.assertClean();
  });
});
