/*
 * Two-factor sign-in on the main page: its state (GET /totp), turning it
 * on (a new key as a QR code and as text, confirmed with a code; then the
 * recovery codes, shown once) and off (the password or a code).
 */
(() => {
  'use strict';
  const { api, withBusy, sentence, $, clearErrors, showReason, requireFields } = window.SSE;

  function show(ids, visible) {
    for (const id of ids) $(id).hidden = !visible;
  }

  async function refresh() {
    const result = await api('/totp');
    if (!result.ok || !result.data) {
      $('totp-status').textContent = sentence(result.reason);
      return;
    }
    const { enabled, configured, required, recovery_codes_left: left } = result.data;
    // A server without a TOTP key shows nothing of it (unless a user still has it on).
    $('totp-section').hidden = !configured && !enabled;
    let text;
    if (enabled) text = `Two-factor sign-in is on. Recovery codes left: ${Number(left)}.`;
    else if (!configured) text = sentence('totp_not_configured');
    else if (required) text = 'Your role must use two-factor sign-in: turn it on, or you will be asked at your next login.';
    else text = 'Two-factor sign-in is off.';
    $('totp-status').textContent = text;
    $('totp-enable-button').hidden = enabled || !configured;
    $('totp-disable-form').hidden = !enabled;
  }

  $('totp-enable-button').addEventListener('click', async (event) => {
    const button = event.currentTarget;
    if (button.disabled) return;
    const result = await withBusy(button, () => api('/totp/enrol', { method: 'POST' }));
    if (!result.ok || !result.data) {
      $('totp-status').textContent = sentence(result.reason);
      return;
    }
    SSE.showTotpSecret(result.data, $('totp-qr'), $('totp-secret'));
    show(['totp-recovery'], false);
    show(['totp-enrol'], true);
    button.hidden = true;
    $('totp-confirm-code').focus();
  });

  $('totp-confirm-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const button = $('totp-confirm-button');
    if (button.disabled) return;
    clearErrors(form);
    if (!requireFields(['totp-confirm-code'])) return;
    const body = { code: $('totp-confirm-code').value.trim() };
    const result = await withBusy(button, () => api('/totp/confirm', { method: 'POST', body }));
    if (!result.ok) {
      showReason(result.reason, { totp_code_not_valid: 'totp-confirm-code' }, 'totp-confirm-error');
      return;
    }
    form.reset();
    SSE.showRecoveryCodes((result.data && result.data.recovery_codes) || [], $('totp-recovery-codes'));
    show(['totp-enrol'], false);
    show(['totp-recovery'], true);
    refresh();
  });

  $('totp-disable-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const button = $('totp-disable-button');
    if (button.disabled) return;
    clearErrors(form);
    const password = $('totp-disable-password').value;
    const code = $('totp-disable-code').value.trim();
    if (!password && !code) {
      $('totp-disable-error').textContent = sentence('missing_query_parameter');
      return;
    }
    const body = password ? { password } : { code };
    const result = await withBusy(button, () => api('/totp/disable', { method: 'POST', body }));
    if (!result.ok) {
      $('totp-disable-error').textContent = sentence(result.reason);
      return;
    }
    form.reset();
    show(['totp-recovery'], false);
    refresh();
  });

  refresh();
})();
