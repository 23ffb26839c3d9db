/*
 * E-mail verification through the pages, with mail to a real SMTP sink
 * (tests/integration/common/smtp_sink.py, aiosmtpd): register, the login
 * page's message and "send again", the link's page, then a login; and the
 * admin's "Mark verified" button with its confirmation.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import {
  ADMIN, REPO, login, newUser, suiteSetup, waitFor, waitForText,
} from './harness.mjs';

/* The sink: one JSON line per mail on its stdout; it stops when stdin closes. */
async function startSink() {
  const python = process.env.SSE_TEST_PYTHON || 'python3';
  const script = path.join(REPO, 'tests/integration/common/smtp_sink.py');
  const child = spawn(python, [script, '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const mails = [];
  const port = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the SMTP sink exited (${code}): is aiosmtpd installed?`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('PORT ')) resolve(Number(line.slice(5)));
      else if (line.startsWith('{')) mails.push(JSON.parse(line));
    });
  });
  return { port, mails, stop: () => child.stdin.end() };
}

const sink = await startSink();
after(() => sink.stop());

function tokenOf(mail) {
  const match = /\/verify_email\?token=([A-Za-z0-9_-]{43})/.exec(mail.text);
  assert.ok(match, `no link in ${mail.text}`);
  return match[1];
}

async function mailTo(address, count = 1) {
  let found = [];
  await waitFor(() => {
    found = sink.mails.filter((m) => m.rcpt_tos.includes(address));
    return found.length >= count;
  }, { what: `${count} mail(s) to ${address}` });
  return found[count - 1];
}

async function registerUnverified(page, user) {
  await page.goto('/register');
  await page.getByTestId('register-email').fill(user.email);
  await page.getByTestId('register-nickname').fill(user.nickname);
  await page.getByTestId('register-password').fill(user.password);
  await page.getByTestId('register-confirm').fill(user.password);
  await page.getByTestId('register-submit').click();
  await page.waitForURL('**/login?verify=1**');
}

describe('email verification', () => {
  const { fresh } = suiteSetup({
    config: {
      require_email_verification: true,
      smtp: { host: '127.0.0.1', port: sink.port, security: 'none', from: 'noreply@lab.example' },
    },
  });

  test('register, refused login, send again, the link, then a login', async () => {
    const { page, watch } = await fresh();
    const user = newUser('ver');
    await registerUnverified(page, user);
    await waitForText(page.getByTestId('notice'), /We mailed you a link/);
    assert.equal(await page.getByTestId('verify-section').isVisible(), true);
    assert.equal(await page.getByTestId('verify-email').inputValue(), user.email);
    const first = tokenOf(await mailTo(user.email));

    // Logging in before the link is used: a message and "send again".
    await page.goto('/login');
    assert.equal(await page.getByTestId('verify-section').isVisible(), false);
    await page.getByTestId('login-identifier').fill(user.email);
    await page.getByTestId('login-password').fill(user.password);
    await page.getByTestId('login-submit').click();
    await waitForText(page.getByTestId('login-error'), /confirm your email address first/);
    assert.equal(await page.getByTestId('verify-section').isVisible(), true);
    await page.getByTestId('verify-resend').click();
    await waitForText(page.getByTestId('verify-status'), /we sent a new link/);
    const second = tokenOf(await mailTo(user.email, 2));
    assert.notEqual(first, second);

    // The first link was replaced; the page says so and nothing happens.
    await page.goto(`/verify_email?token=${first}`);
    await page.getByTestId('verify-email-submit').click();
    await waitForText(page.getByTestId('verify-email-error'), /not valid, was used already or has expired/);

    await page.goto(`/verify_email?token=${second}`);
    await page.getByTestId('verify-email-submit').click();
    await page.waitForURL('**/login?verified=1');
    await waitForText(page.getByTestId('notice'), 'Your email address is confirmed, please log in.');
    await login(page, { identifier: user.nickname, password: user.password });
    watch.assertClean({ apiErrors: ['POST /login 403', 'POST /verify_email 400'] });
  });

  test('a link without its token says so and cannot be sent', async () => {
    const { page } = await fresh();
    await page.goto('/verify_email');
    await waitForText(page.getByTestId('verify-email-error'), /incomplete/);
    assert.equal(await page.getByTestId('verify-email-submit').isDisabled(), true);
  });

  test('the admin marks an account verified after confirming', async () => {
    const { page: userPage } = await fresh();
    const user = newUser('adm');
    await registerUnverified(userPage, user);
    await mailTo(user.email);

    const { page, watch } = await fresh();
    await login(page, { identifier: ADMIN.name, password: ADMIN.password });
    const row = page.locator('tr', { hasText: user.email });
    const button = row.getByRole('button', { name: 'Mark verified' });
    await button.waitFor();
    // Dismissing the confirmation changes nothing.
    page.once('dialog', (dialog) => dialog.dismiss());
    await button.click();
    assert.equal(await button.isVisible(), true);
    page.once('dialog', (dialog) => {
      assert.match(dialog.message(), new RegExp(user.nickname));
      dialog.accept();
    });
    await button.click();
    await waitForText(row.locator('.row-status'), 'Verified');
    assert.equal(await button.count(), 0);
    // The admin's own row never had the button.
    const own = page.locator('tr', { hasText: ADMIN.email });
    assert.equal(await own.getByRole('button', { name: 'Mark verified' }).count(), 0);

    await login(userPage, { identifier: user.nickname, password: user.password });
    watch.assertClean();
  });
});
