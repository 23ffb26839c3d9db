/* New password from the emailed link; the link's secret arrives as ?phrase=. */
(() => {
  'use strict';
  const { api, withBusy, $, clearErrors, showReason, requireFields, checkNewPassword, query, sentence } = window.SSE;

  const FIELDS = { password_too_short: 'new-password', password_too_long: 'new-password' };
  const phrase = (query('phrase') || '').trim();
  const button = $('reset-password-submit');

  if (!phrase) {
    // Nothing can succeed without the phrase; say so instead of failing on submit.
    $('reset-password-error').textContent = sentence('missing_phrase');
    button.disabled = true;
  }

  $('reset-password-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    clearErrors(event.currentTarget);
    if (!requireFields(['new-password', 'confirm-password'])) return;

    const newPassword = checkNewPassword('new-password', 'confirm-password', FIELDS, 'reset-password-error');
    if (newPassword === null) return;
    const body = { phrase, new_password: newPassword };
    const result = await withBusy(button, () => api('/forgot_password', { method: 'POST', body, authRedirect: false }));
    if (result.ok) {
      location.assign('/login?reset=1');
      return;
    }
    showReason(result.reason, FIELDS, 'reset-password-error');
  });
})();
