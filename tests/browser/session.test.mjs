/*
 * An expired session sends the person back to /login with a message: both
 * when the page notices by itself (its periodic refresh) and on an action.
 * The server runs with 2-second access tokens.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  login, newUser, register, suiteSetup, waitForText,
} from './harness.mjs';

const EXPIRED = 'Your session has expired, please log in again.';

describe('session expiry', () => {
  const { fresh } = suiteSetup({ config: { token_ttl_seconds: 2, session_max_seconds: 4 } });

  test('an expired session sends the user to /login with a message', async () => {
    const user = newUser('exp');
    await register((await fresh()).page, user);

    // B: on the change-password page, idle from here on.
    const b = await fresh();
    await login(b.page, { identifier: user.nickname, password: user.password });
    await b.page.goto('/password/change');
    await b.page.getByTestId('old-password').waitFor();

    // A: on the main page, logged in after B, so B's session is older.
    const a = await fresh();
    await login(a.page, { identifier: user.email, password: user.password, name: user.nickname });
    const loggedInAt = Date.now();

    // Nothing is sleeping here: the main page refreshes its module list every
    // 10 s, finds its session gone and leaves for the login page.
    await a.page.waitForURL('**/login?expired=1', { timeout: 20_000 });
    assert.ok(Date.now() - loggedInAt >= 2_000, 'not before the session could have expired');
    await waitForText(a.page.getByTestId('notice'), EXPIRED);
    assert.ok(await a.page.getByTestId('notice').evaluate((el) => el.classList.contains('warning')));

    // B's session ended before A's did: its next action lands on the login page too.
    await b.page.getByTestId('old-password').fill(user.password);
    await b.page.getByTestId('new-password').fill(`${user.password}-new`);
    await b.page.getByTestId('confirm-password').fill(`${user.password}-new`);
    await b.page.getByTestId('change-password-submit').click();
    await b.page.waitForURL('**/login?expired=1');
    await waitForText(b.page.getByTestId('notice'), EXPIRED);

    // The password did not change, and logging in again works.
    await login(a.page, { identifier: user.nickname, password: user.password });
    a.watch.assertClean({ apiErrors: ['GET /execution/running 401'] });
    b.watch.assertClean({ apiErrors: ['POST /password/change 401'] });
  });
});
