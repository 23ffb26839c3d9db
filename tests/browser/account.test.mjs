/* Changing the password and deleting the account, end to end through the pages. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  login, newUser, register, suiteSetup, waitForText,
} from './harness.mjs';

describe('account', () => {
  const { fresh } = suiteSetup();

  async function tryLogin(page, identifier, password) {
    await page.goto('/login');
    await page.getByTestId('login-identifier').fill(identifier);
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-submit').click();
  }

  test('changing the password, end to end', async () => {
    const { page, watch } = await fresh();
    const user = newUser('chg');
    const newPassword = `${user.password}-new`;
    await register(page, user);
    // A second device stays logged in until the change.
    const { page: other, watch: otherWatch } = await fresh();
    await login(other, { identifier: user.nickname, password: user.password });

    await page.getByTestId('change-password-link').click();
    await page.waitForURL('**/password/change');
    assert.equal(await page.getByTestId('google-note').isVisible(), false);

    // Client-side checks first: mismatch, too short.
    await page.getByTestId('old-password').fill(user.password);
    await page.getByTestId('new-password').fill(newPassword);
    await page.getByTestId('confirm-password').fill(`${newPassword}x`);
    await page.getByTestId('change-password-submit').click();
    await waitForText(page.getByTestId('confirm-password-error'), 'The two passwords do not match.');
    await page.getByTestId('new-password').fill('short');
    await page.getByTestId('confirm-password').fill('short');
    await page.getByTestId('change-password-submit').click();
    await waitForText(page.getByTestId('new-password-error'), 'The password must be at least 8 characters long.');

    // A wrong current password is refused by the server, next to its field.
    await page.getByTestId('old-password').fill(`${user.password}-wrong`);
    await page.getByTestId('new-password').fill(newPassword);
    await page.getByTestId('confirm-password').fill(newPassword);
    await page.getByTestId('change-password-submit').click();
    await waitForText(page.getByTestId('old-password-error'), 'The current password is not correct.');
    assert.equal(new URL(page.url()).pathname, '/password/change');

    await page.getByTestId('old-password').fill(user.password);
    await page.getByTestId('change-password-submit').click();
    await page.waitForURL('**/login?changed=1');
    await waitForText(page.getByTestId('notice'), 'Password changed, please log in with the new one.');

    // Every session ended: the other device is sent to the login page.
    await other.goto('/main');
    assert.equal(new URL(other.url()).pathname, '/login');

    await tryLogin(page, user.nickname, user.password);
    await waitForText(page.getByTestId('login-password-error'), 'The password is not correct.');
    await login(page, { identifier: user.nickname, password: newPassword });
    watch.assertClean({ apiErrors: ['POST /password/change 400', 'POST /login 401'] });
    otherWatch.assertClean();
  });

  test('deleting the account, end to end', async () => {
    const { page, watch } = await fresh();
    const user = newUser('del');
    await register(page, user);

    // Cancel leaves everything as it was.
    await page.getByTestId('delete-account-button').click();
    const dialog = page.getByTestId('delete-dialog');
    assert.equal(await dialog.isVisible(), true);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'delete-password', 'focus in the dialog');
    await page.keyboard.press('Escape');
    assert.equal(await dialog.isVisible(), false, 'Escape closes the dialog');
    await page.getByTestId('delete-account-button').click();
    await page.getByTestId('delete-cancel-button').click();
    assert.equal(await dialog.isVisible(), false);

    // Empty and wrong passwords are refused in the dialog, which stays open.
    await page.getByTestId('delete-account-button').click();
    await page.getByTestId('delete-confirm-button').click();
    await waitForText(page.getByTestId('delete-password-error'), 'Please fill in this field.');
    await page.getByTestId('delete-password').fill(`${user.password}-wrong`);
    await page.getByTestId('delete-confirm-button').click();
    await waitForText(page.getByTestId('delete-password-error'), 'The password is not correct.');
    assert.equal(await dialog.isVisible(), true);
    assert.equal(new URL(page.url()).pathname, '/main');

    await page.getByTestId('delete-password').fill(user.password);
    await page.getByTestId('delete-confirm-button').click();
    await page.waitForURL('**/login?deleted=1');
    await waitForText(page.getByTestId('notice'),
      'Your account and its data have been deleted, and all its sessions have ended.');

    await page.goto('/main');
    assert.equal(new URL(page.url()).pathname, '/login', 'the session ended');
    await tryLogin(page, user.email, user.password);
    await waitForText(page.getByTestId('login-identifier-error'), 'No account was found with that name or email.');
    // The nickname is free again.
    await register(page, { ...user, email: `again-${user.email}` });
    watch.assertClean({ apiErrors: ['DELETE /delete_account 401', 'POST /login 409'] });
  });
});
