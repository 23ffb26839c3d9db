/*
 * The user's sessions on the main page (ending one, "this device"), and
 * the administrators' account actions, each behind a confirmation dialog
 * that can be cancelled. Mail is off, so a reset link is shown on the page.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, login, newUser, register, suiteSetup, waitFor, waitForText,
} from './harness.mjs';

describe('sessions and account actions', () => {
  const { fresh } = suiteSetup();

  const sessionItems = (page) => page.locator('#sessions-list li');

  test('the user page lists the sessions and ending one ends exactly it', async () => {
    const user = newUser('ses');
    const a = await fresh();
    await register(a.page, user);
    const b = await fresh();
    await login(b.page, { identifier: user.nickname, password: user.password });

    await a.page.reload();
    await waitFor(async () => (await sessionItems(a.page).count()) === 2, { what: 'two sessions' });
    const current = a.page.locator('#sessions-list li:has([data-testid^="session-current-"])');
    assert.equal(await current.count(), 1, 'one is this device');
    assert.match(await current.textContent(), /HeadlessChrome|Chrome/);
    assert.match(await current.textContent(), /127\.0\.0\.1/);
    const other = a.page.locator('#sessions-list li:not(:has([data-testid^="session-current-"]))');
    const otherId = (await other.getAttribute('data-testid')).replace('session-', '');
    await a.page.getByTestId(`session-end-${otherId}`).click();
    await waitFor(async () => (await sessionItems(a.page).count()) === 1, { what: 'one session left' });

    // B's session is gone: its page sends it to the login page; A's stays.
    await b.page.reload();
    await b.page.waitForURL('**/login?expired=1');
    await a.page.reload();
    await waitForText(a.page.getByTestId('user-name'), user.nickname);

    // Ending this device's own session leaves for the login page.
    const ownId = (await current.getAttribute('data-testid')).replace('session-', '');
    await a.page.getByTestId(`session-end-${ownId}`).click();
    await a.page.waitForURL('**/login');
    a.watch.assertClean();
    assert.deepEqual(b.watch.problems, []);
  });

  test('log out everywhere ends every session of the user', async () => {
    const user = newUser('all');
    const a = await fresh();
    await register(a.page, user);
    const b = await fresh();
    await login(b.page, { identifier: user.nickname, password: user.password });
    await b.page.getByTestId('logout-all-button').click();
    await b.page.waitForURL('**/login');
    await a.page.reload();
    await a.page.waitForURL('**/login?expired=1');
    b.watch.assertClean();
  });

  /* Opens the admin page with `user` (registered elsewhere) in the table. */
  async function adminWith(user) {
    const admin = await fresh();
    await login(admin.page, { identifier: ADMIN.name, password: ADMIN.password });
    const row = admin.page.locator(`#users-tbody tr[data-user-name="${user.nickname}"]`);
    await row.waitFor();
    return { ...admin, id: await row.getAttribute('data-user-id'), row };
  }

  /* Clicks an action's button and answers its confirmation dialog. */
  async function act(page, key, id, accept) {
    await page.getByTestId(`action-${key}-${id}`).click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor();
    assert.ok((await page.getByTestId('confirm-text').textContent()).length > 10);
    await page.getByTestId(accept ? 'confirm-ok-button' : 'confirm-cancel-button').click();
    await dialog.waitFor({ state: 'hidden' });
  }

  test('an admin ends a user\'s sessions after confirming, and a cancel does nothing', async () => {
    const user = newUser('end');
    const u = await fresh();
    await register(u.page, user);
    const { page, watch, id } = await adminWith(user);
    assert.notEqual(await page.getByTestId(`last-login-${id}`).textContent(), 'Never');

    await act(page, 'end-sessions', id, false);
    assert.equal(await page.getByTestId(`action-status-${id}`).textContent(), '');
    await u.page.reload();
    await waitForText(u.page.getByTestId('user-name'), user.nickname);

    await act(page, 'end-sessions', id, true);
    await waitForText(page.getByTestId(`action-status-${id}`), 'Ended 1 sessions');
    await u.page.reload();
    await u.page.waitForURL('**/login?expired=1');
    watch.assertClean();
  });

  test('an admin gets a one-time reset link with mail off, after confirming', async () => {
    const user = newUser('rst');
    await register((await fresh()).page, user);
    const { page, watch, id } = await adminWith(user);

    await act(page, 'reset-password', id, false);
    assert.equal(await page.getByTestId(`reset-link-${id}`).count(), 0);
    await act(page, 'reset-password', id, true);
    const link = await page.getByTestId(`reset-link-${id}`).inputValue();
    assert.match(link, /\/forgot_password\?phrase=[A-Za-z0-9_-]{43}$/);

    // The link works: a new password, then a login with it.
    const reset = await fresh();
    await reset.page.goto(new URL(link).pathname + new URL(link).search);
    await reset.page.getByTestId('new-password').fill(`${user.password}-2`);
    await reset.page.getByTestId('confirm-password').fill(`${user.password}-2`);
    await reset.page.getByTestId('reset-password-submit').click();
    await reset.page.waitForURL('**/login**');
    await login(reset.page, { identifier: user.nickname, password: `${user.password}-2` });
    watch.assertClean();
  });

  test('an admin deletes a user after confirming, and cannot delete themselves', async () => {
    const user = newUser('del');
    await register((await fresh()).page, user);
    const { page, watch, id, row } = await adminWith(user);
    const ownId = await page.locator(`#users-tbody tr[data-user-name="${ADMIN.name}"]`).getAttribute('data-user-id');
    assert.equal(await page.getByTestId(`action-delete-user-${ownId}`).count(), 0, 'no delete on the own row');

    await act(page, 'delete-user', id, false);
    assert.equal(await row.count(), 1, 'still there');
    await act(page, 'delete-user', id, true);
    await row.waitFor({ state: 'detached' });
    await waitForText(page.getByTestId('user-count'), /^\d+$/);
    watch.assertClean();
  });
});
