/* Change password; the server ends the session, so we continue at the login page. */
(() => {
  'use strict';
  const { api, withBusy, $, clearErrors, showReason, requireFields, checkNewPassword } = window.SSE;

  const FIELDS = {
    old_password_not_valid: 'old-password',
    password_too_short: 'new-password',
    password_too_long: 'new-password',
  };

  // Asking early sends an expired session to the login page before anything is typed.
  api('/me').then((result) => {
    if (result.ok && result.data && result.data.user && result.data.user.google_user) {
      $('google-note').hidden = false;
    }
  });

  $('password-change-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('change-password-submit');
    if (button.disabled) return;
    clearErrors(event.currentTarget);
    if (!requireFields(['old-password', 'new-password', 'confirm-password'])) return;

    const newPassword = checkNewPassword('new-password', 'confirm-password', FIELDS, 'change-password-error');
    if (newPassword === null) return;
    const body = { old_password: $('old-password').value, new_password: newPassword };
    const result = await withBusy(button, () => api('/password/change', { method: 'POST', body }));
    if (result.ok) {
      location.assign('/login?changed=1');
      return;
    }
    showReason(result.reason, FIELDS, 'change-password-error');
  });
})();
