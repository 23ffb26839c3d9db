/*
 * The admin page's unlock button (a user locked by failed logins, unlocked
 * after a confirmation, then logging in) and its audit trail table (newest
 * first, "Older" pages back).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ADMIN, login, newUser, suiteSetup, waitFor, waitForText } from './harness.mjs';

describe('unlocking and the audit trail', () => {
  const suite = suiteSetup({ config: { login_max_failures: 2 } });
  const { fresh } = suite;

  const row = (page, name) => page.locator(`#users-tbody tr[data-user-name="${name}"]`);

  /* A new account made through the API of `page`'s context (no cookie kept). */
  async function registered(page) {
    const user = newUser('lock');
    const form = { email: user.email, nickname: user.nickname, password: user.password };
    const r = await page.request.post('/register', { form });
    assert.equal(r.status(), 200, await r.text());
    return user;
  }

  test('an admin unlocks a user locked by failed logins, after confirming, and the user logs in', async () => {
    const { page: userPage, watch: userWatch } = await fresh();
    const user = await registered(userPage);
    const guess = { nickname: user.nickname, password: 'not-the-password' };
    for (let i = 0; i < 2; i += 1) {
      assert.equal((await userPage.request.post('/login', { form: guess })).status(), 401);
    }
    const locked = await userPage.request.post('/login', { form: { ...guess, password: user.password } });
    assert.equal(locked.status(), 429, 'the right password is refused while locked');

    const { page, watch } = await fresh();
    await login(page, { identifier: ADMIN.name, password: ADMIN.password });
    const target = row(page, user.nickname);
    await target.waitFor();
    const id = await target.getAttribute('data-user-id');
    const unlock = page.getByTestId(`unlock-${id}`);
    assert.equal(await unlock.isVisible(), true, 'the locked user has an Unlock button');
    const adminId = await row(page, ADMIN.name).getAttribute('data-user-id');
    assert.equal(await page.getByTestId(`unlock-${adminId}`).isVisible(), false, 'the admin is not locked');

    // Cancelling the confirmation changes nothing.
    page.once('dialog', (dialog) => dialog.dismiss());
    await unlock.click();
    assert.equal(await unlock.isVisible(), true);
    assert.equal(await page.getByTestId(`role-status-${id}`).textContent(), '');

    let asked = '';
    page.once('dialog', (dialog) => { asked = dialog.message(); dialog.accept(); });
    await unlock.click();
    await waitForText(page.getByTestId(`role-status-${id}`), 'Unlocked');
    assert.match(asked, new RegExp(`Unlock ${user.nickname}\\?`));
    assert.equal(await unlock.isVisible(), false);
    await page.reload();
    await row(page, user.nickname).waitFor();
    assert.equal(await page.getByTestId(`unlock-${id}`).isVisible(), false, 'still unlocked after a reload');

    await login(userPage, { identifier: user.nickname, password: user.password });
    watch.assertClean();
    userWatch.assertClean();
  });

  test('the audit table shows the newest entries first and pages back with Older', async () => {
    const { page: userPage } = await fresh();
    const user = await registered(userPage);
    const form = { nickname: user.nickname, password: user.password };
    for (let i = 0; i < 25; i += 1) {
      assert.equal((await userPage.request.post('/login', { form })).status(), 200);
    }

    const { page, watch } = await fresh();
    await login(page, { identifier: ADMIN.name, password: ADMIN.password });
    // The trail is written in batches off the request path: wait until the
    // admin's own login, the last act, is in it, then show the newest.
    await waitFor(async () => {
      const r = await page.request.get('/audit?action=login&limit=100');
      return (await r.json()).events.filter((e) => e.outcome === 'ok').length >= 26;
    }, { what: "the user's 25 logins and the admin's in the trail" });
    await page.getByTestId('audit-refresh').click();
    const rows = page.locator('#audit-tbody tr');
    await waitFor(async () => (await rows.count()) === 20, { what: 'a first page of 20' });
    const ids = async () => (await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.id.replace('audit-row-', '')))));
    const first = await ids();
    assert.deepEqual(first, first.slice().sort((a, b) => b - a), 'newest first');
    assert.equal(await rows.first().getAttribute('data-action'), 'login');

    const older = page.getByTestId('audit-older');
    assert.equal(await older.isVisible(), true);
    await older.click();
    await waitFor(async () => (await rows.count()) > 20, { what: 'an older page' });
    const all = await ids();
    assert.deepEqual(all.slice(0, 20), first, 'the first page stays on top');
    assert.ok(Math.max(...all.slice(20)) < Math.min(...first), 'the older page is older');
    assert.equal(new Set(all).size, all.length, 'no entry twice');
    const actions = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.action));
    assert.ok(actions.includes('register'), `the registration before the logins, in ${actions}`);
    watch.assertClean();
  });
});
