/* New password from the emailed link; the link's secret arrives as ?phrase=. */
(() => {
  'use strict';
  const { api, withBusy, $, clearErrors, showReason, setFieldError, requireFields, query, sentence, MIN_PASSWORD_LENGTH } = window.SSE;

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

    const newPassword = $('new-password').value;
    if (newPassword.length < MIN_PASSWORD_LENGTH) {
      showReason('password_too_short', FIELDS, 'reset-password-error');
      return;
    }
    if (newPassword !== $('confirm-password').value) {
      setFieldError('confirm-password', 'passwords_do_not_match');
      $('confirm-password').focus();
      return;
    }
    const body = { phrase, new_password: newPassword };
    const result = await withBusy(button, () => api('/forgot_password', { method: 'POST', body, authRedirect: false }));
    if (result.ok) {
      location.assign('/login?reset=1');
      return;
    }
    showReason(result.reason, FIELDS, 'reset-password-error');
  });
})();
