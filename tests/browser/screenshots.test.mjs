/*
 * Every page at desktop (1280x800) and phone (360x740) width, saved to
 * docs/screenshots/<page>-<viewport>.png (overwritten each run), and checked
 * for what a screenshot shows badly: sideways scrolling, content wider than
 * the screen, a dialog that does not fit.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  ADMIN, LISTSERV, VIEWPORTS, login, register, screenshot, startHelloModule, suiteSetup, waitForText,
} from './harness.mjs';

const ALICE = { nickname: 'alice', email: 'alice@example.org', password: 'alice-password-1' };

describe('screenshots of every page', () => {
  const suite = suiteSetup({ verifyKeys: { [LISTSERV.name]: LISTSERV.verifyKey } });
  let module;
  suite.onStop(() => module?.stop());

  // Runs after suiteSetup's own before hook (hooks run in order).
  before(async () => {
    module = await startHelloModule(suite.platform);
    const { page } = await suite.fresh();
    await register(page, ALICE);
  });

  /* Nothing sticks out sideways; every visible element fits the viewport's width. */
  async function assertFits(page, name) {
    const result = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const wide = [];
      for (const el of document.querySelectorAll('body *')) {
        if (el.closest('.table-wrap') && !el.matches('.table-wrap')) continue; // scrolls inside its box
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;
        if (box.left < -1 || box.right > width + 1) wide.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(box.left)}..${Math.round(box.right)}`);
      }
      return { scroll: document.documentElement.scrollWidth, width, wide };
    });
    assert.ok(result.scroll <= result.width, `${name}: page scrolls sideways (${result.scroll} > ${result.width})`);
    assert.deepEqual(result.wide, [], `${name}: elements wider than the screen`);
  }

  async function shoot(page, name, viewport) {
    // No focus ring or hover left over from the steps before.
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.mouse.move(0, 0);
    // The picture first, so a failing check below can be looked at.
    await screenshot(page, name, viewport);
    await assertFits(page, `${name}-${viewport}`);
  }

  for (const viewport of Object.keys(VIEWPORTS)) {
    test(`${viewport}: login, register, forgot password, main, change password, delete dialog, admin`, async () => {
      const user = await suite.fresh({ viewport });
      const { page } = user;

      await page.goto('/login');
      await page.getByTestId('login-identifier').waitFor();
      await shoot(page, 'login', viewport);

      await page.getByTestId('tab-register').click();
      await page.getByTestId('register-email').waitFor();
      await shoot(page, 'register', viewport);

      await page.goto('/forgot_password?phrase=example-phrase');
      await page.getByTestId('new-password').waitFor();
      assert.equal(await page.getByTestId('reset-password-submit').isEnabled(), true);
      await shoot(page, 'forgot-password', viewport);

      await login(page, { identifier: ALICE.nickname, password: ALICE.password });
      await waitForText(page.getByTestId('user-role'), 'guest');
      await page.getByTestId(`module-link-${LISTSERV.name}`).waitFor();
      await shoot(page, 'main-user', viewport);

      await page.getByTestId('delete-account-button').click();
      await page.getByTestId('delete-password').waitFor();
      const box = await page.getByTestId('delete-dialog').boundingBox();
      const size = VIEWPORTS[viewport];
      assert.ok(box.x >= 0 && box.x + box.width <= size.width, `the dialog fits the width (${JSON.stringify(box)})`);
      assert.ok(box.y >= 0 && box.y + box.height <= size.height, `the dialog fits the height (${JSON.stringify(box)})`);
      await shoot(page, 'delete-dialog', viewport);
      await page.getByTestId('delete-cancel-button').click();

      await page.getByTestId('change-password-link').click();
      await page.getByTestId('old-password').waitFor();
      await shoot(page, 'password-change', viewport);
      user.watch.assertClean();

      const admin = await suite.fresh({ viewport });
      await login(admin.page, { identifier: ADMIN.name, password: ADMIN.password });
      await admin.page.locator(`#users-tbody tr[data-user-name="${ALICE.nickname}"]`).waitFor();
      await waitForText(admin.page.getByTestId('user-count'), '2');
      await waitForText(admin.page.getByTestId('module-count'), '1');
      await admin.page.getByTestId(`module-link-${LISTSERV.name}`).waitFor();
      await shoot(admin.page, 'main-admin', viewport);
      admin.watch.assertClean();
    });
  }
});
