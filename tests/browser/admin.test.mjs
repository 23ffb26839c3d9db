/*
 * The admin page: changing a user's role, and a module that registers over
 * the WebSocket hub showing up on the user and the admin page.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN, LISTSERV, login, newUser, register, startHelloModule, suiteSetup, waitForText,
} from './harness.mjs';

describe('administration and modules', () => {
  const suite = suiteSetup({ verifyKeys: { [LISTSERV.name]: LISTSERV.verifyKey } });
  const { fresh } = suite;
  let module;
  suite.onStop(() => module?.stop());

  const row = (page, name) => page.locator(`#users-tbody tr[data-user-name="${name}"]`);

  test("an admin changes a user's role and the user's page shows it after a refresh", async () => {
    const { page: userPage, watch: userWatch } = await fresh();
    const user = newUser('role');
    await register(userPage, user);
    await waitForText(userPage.getByTestId('user-role'), 'guest');
    assert.equal(await userPage.getByTestId('admin-section').isVisible(), false);

    const { page, watch } = await fresh();
    await login(page, { identifier: ADMIN.name, password: ADMIN.password });
    await waitForText(page.getByTestId('user-role'), 'admin');
    assert.equal(await page.getByTestId('admin-section').isVisible(), true);
    await row(page, user.nickname).waitFor();
    await waitForText(page.getByTestId('user-count'), '2');

    // The search narrows the table to the user.
    await page.getByTestId('user-search').fill(user.nickname);
    assert.equal(await page.locator('#users-tbody tr:not([hidden])').count(), 1);
    assert.equal(await row(page, ADMIN.name).isVisible(), false);
    const target = row(page, user.nickname);
    assert.equal(await target.locator('.cell-email').textContent(), user.email);
    const id = await target.getAttribute('data-user-id');
    assert.match(id, /^\d+$/);

    await page.getByTestId(`role-select-${id}`).selectOption('teacher');
    await page.getByTestId(`role-save-${id}`).click();
    await waitForText(page.getByTestId(`role-status-${id}`), 'Saved');

    // Live session, new role: a refresh of the user's page shows it.
    await userPage.reload();
    await waitForText(userPage.getByTestId('user-role'), 'teacher');
    assert.equal(await userPage.getByTestId('admin-section').isVisible(), false);

    // ...and after a reload the admin table shows the saved role.
    await page.reload();
    await row(page, user.nickname).waitFor();
    assert.equal(await page.getByTestId(`role-select-${id}`).inputValue(), 'teacher');
    watch.assertClean();
    userWatch.assertClean();
  });

  test('a module registered over the hub appears on the user and the admin page', async () => {
    module = await startHelloModule(suite.platform);
    const expectedHref = `https://127.0.0.1:${module.port}/`;

    const { page: userPage, watch: userWatch } = await fresh();
    const user = newUser('mod');
    await register(userPage, user);
    const { page: adminPage, watch: adminWatch } = await fresh();
    await login(adminPage, { identifier: ADMIN.name, password: ADMIN.password });

    for (const page of [userPage, adminPage]) {
      const link = page.getByTestId(`module-link-${LISTSERV.name}`);
      await link.waitFor();
      assert.equal(await link.textContent(), LISTSERV.name);
      assert.equal(await link.getAttribute('href'), expectedHref);
      assert.equal(await page.locator('#modules-list li').count(), 1, 'the platform itself is not listed');
      assert.equal(await page.getByTestId('modules-empty').isVisible(), false);
    }
    await waitForText(adminPage.getByTestId('module-count'), '1');

    // The module's own page gets the platform's cookie (cookies ignore ports)
    // and greets the user; a browser without the cookie is not greeted.
    const moduleOrigin = `http://127.0.0.1:${module.port}`;
    const modulePage = await userPage.context().newPage();
    const greeting = await modulePage.goto(`${moduleOrigin}/`);
    assert.equal(greeting.status(), 200, await greeting.text());
    assert.equal((await modulePage.locator('body').textContent()).trim(), `Hello, ${user.nickname}!`);
    await modulePage.close();
    const { page: stranger } = await fresh();
    const anonymous = await stranger.goto(`${moduleOrigin}/`);
    assert.equal(anonymous.status(), 401, 'no cookie, no greeting');
    assert.doesNotMatch(await stranger.locator('body').textContent(), /Hello/);

    // When the module stops, the list says so on the next load.
    await module.stop();
    module = null;
    await userPage.reload();
    await waitForText(userPage.getByTestId('modules-empty'), 'No modules are running.');
    assert.equal(await userPage.getByTestId(`module-link-${LISTSERV.name}`).count(), 0);
    userWatch.assertClean({ otherOrigins: [moduleOrigin] });
    adminWatch.assertClean();
  });
});
