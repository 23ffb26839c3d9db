/*
 * Two-factor sign-in through the pages: turning it on from the main page
 * (the key read from the page, the code computed here with RFC 6238),
 * logging in with a code, an admin role that must enrol at login, and the
 * admin's reset button.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  ADMIN, newUser, register, suiteSetup, waitFor, waitForText,
} from './harness.mjs';

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of text.replace(/=+$/, '')) {
    const value = alphabet.indexOf(ch);
    assert.ok(value >= 0, `not base32: ${text}`);
    bits += value.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/* RFC 6238: HOTP (RFC 4226) of the 30-second step, six digits. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

const stepNow = () => Math.floor(Date.now() / 1000 / 30);

/* The current step, once at least 5 s of it are left (so the server sees it too). */
async function freshStep() {
  await waitFor(() => (Date.now() / 1000) % 30 < 25, { timeout: 10_000, what: 'a fresh 30 s step' });
  return stepNow();
}

test('the test computes RFC 6238 appendix B codes', () => {
  const secret = Buffer.from('12345678901234567890');
  assert.equal(totp(secret, Math.floor(59 / 30)), '287082');
  assert.equal(totp(secret, Math.floor(1111111109 / 30)), '081804');
  assert.equal(totp(secret, Math.floor(2000000000 / 30)), '279037');
});

describe('two-factor sign-in', () => {
  const { fresh } = suiteSetup({
    config: { totp_encryption_key: randomBytes(32).toString('hex'), totp_required_roles: ['admin'] },
  });

  /* Turns it on from the main page; returns the secret and the step confirmed. */
  async function enrolOnMainPage(page) {
    await page.getByTestId('totp-enable-button').click();
    await waitForText(page.getByTestId('totp-secret'), /^[A-Z2-7]{32}$/);
    const text = (await page.getByTestId('totp-secret').textContent()).trim();
    assert.equal(await page.locator('#totp-qr svg').count(), 1, 'the QR code, inline SVG');
    const secret = base32Decode(text);
    const step = await freshStep();
    await page.getByTestId('totp-confirm-code').fill(totp(secret, step));
    await page.getByTestId('totp-confirm-button').click();
    await waitFor(async () => (await page.getByTestId('totp-recovery-codes').locator('li').count()) === 10,
      { what: 'ten recovery codes' });
    await waitForText(page.getByTestId('totp-status'), /^Two-factor sign-in is on\. Recovery codes left: 10\.$/);
    return { secret, step };
  }

  async function passwordStep(page, identifier, password) {
    await page.goto('/login');
    await page.getByTestId('login-identifier').fill(identifier);
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('totp-step').waitFor({ state: 'visible' });
  }

  test('a user turns it on, logs out, and logs in with a code', async () => {
    const { page, watch } = await fresh();
    const user = newUser('tfa');
    await register(page, user);
    await waitForText(page.getByTestId('totp-status'), 'Two-factor sign-in is off.');
    const { secret, step } = await enrolOnMainPage(page);

    await page.getByTestId('logout-button').click();
    await page.waitForURL('**/login');
    await passwordStep(page, user.nickname, user.password);
    assert.equal(await page.getByTestId('totp-enrol').isVisible(), false);
    // The confirmation's step is used; the next one (skew) is accepted.
    await page.getByTestId('totp-code').fill(totp(secret, step + 1));
    await page.getByTestId('totp-submit').click();
    await page.waitForURL('**/main');
    await waitForText(page.getByTestId('user-name'), user.nickname);
    watch.assertClean();
  });

  test('an admin must enrol at login, then resets a user with a confirmation', async () => {
    const { page: userPage, watch: userWatch } = await fresh();
    const user = newUser('lost');
    await register(userPage, user);
    await enrolOnMainPage(userPage);

    const { page, watch } = await fresh();
    await passwordStep(page, ADMIN.name, ADMIN.password);
    await page.getByTestId('totp-enrol').waitFor({ state: 'visible' });
    await waitForText(page.getByTestId('totp-secret'), /^[A-Z2-7]{32}$/);
    const secret = base32Decode((await page.getByTestId('totp-secret').textContent()).trim());
    assert.equal(await page.locator('#totp-qr svg').count(), 1);
    await page.getByTestId('totp-code').fill(totp(secret, await freshStep()));
    await page.getByTestId('totp-submit').click();
    await page.getByTestId('totp-recovery').waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('totp-recovery-codes').locator('li').count(), 10);
    await page.getByTestId('totp-continue').click();
    await page.waitForURL('**/main');
    await waitForText(page.getByTestId('totp-status'), /^Two-factor sign-in is on\./);

    const row = page.locator(`tr[data-user-name="${user.nickname}"]`);
    await row.waitFor();
    const id = (await row.getAttribute('id')).replace('user-row-', '');
    const dialogs = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      dialog.accept();
    });
    await page.getByTestId(`totp-reset-${id}`).click();
    await waitForText(page.getByTestId(`totp-reset-status-${id}`), 'Two-factor sign-in removed');
    assert.equal(dialogs.length, 1);
    assert.match(dialogs[0], new RegExp(user.nickname));

    await userPage.reload();
    await waitForText(userPage.getByTestId('totp-status'), 'Two-factor sign-in is off.');
    watch.assertClean();
    userWatch.assertClean();
  });
});
