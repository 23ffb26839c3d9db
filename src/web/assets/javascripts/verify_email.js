/* Confirms an email address from the mailed link; its secret arrives as ?token=. */
(() => {
  'use strict';
  const { api, withBusy, $, showReason, query, sentence } = window.SSE;

  const token = (query('token') || '').trim();
  const button = $('verify-email-submit');

  if (!token) {
    $('verify-email-error').textContent = sentence('missing_verification_token');
    button.disabled = true;
  }

  $('verify-email-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    $('verify-email-error').textContent = '';
    const result = await withBusy(button, () => api('/verify_email', { method: 'POST', body: { token }, authRedirect: false }));
    if (result.ok) {
      location.assign('/login?verified=1');
      return;
    }
    showReason(result.reason, {}, 'verify-email-error');
  });
})();
