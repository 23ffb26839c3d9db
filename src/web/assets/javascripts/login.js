/* Log in (and its second step), register, "forgot password" and the Google button. */
(() => {
  'use strict';
  const { api, withBusy, $, clearErrors, showReason, requireFields, checkNewPassword, query } = window.SSE;

  // Messages other pages ask for through the query string.
  const NOTICES = {
    expired: ['warning', 'Your session has expired, please log in again.'],
    changed: ['success', 'Password changed, please log in with the new one.'],
    deleted: ['success', 'Your account and its data have been deleted, and all its sessions have ended.'],
    reset: ['success', 'Your password has been reset, please log in with the new one.'],
    verify: ['success', 'Account created. We mailed you a link: open it to confirm your email address, then log in.'],
    verified: ['success', 'Your email address is confirmed, please log in.'],
  };
  for (const [param, [kind, text]] of Object.entries(NOTICES)) {
    if (query(param) === '1') {
      const notice = $('notice');
      notice.textContent = text;
      notice.classList.add(kind);
      notice.hidden = false;
      break;
    }
  }

  /* Tabs (WAI-ARIA tabs pattern: arrow keys move between tabs). */
  const tabs = [$('tab-login'), $('tab-register')];
  const PATHS = { 'tab-login': '/login', 'tab-register': '/register' };

  function selectTab(tab, { focus = false, updateUrl = true } = {}) {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !selected;
    }
    if (focus) tab.focus();
    // Keep the address matching the tab so reload and sharing open the same tab.
    if (updateUrl && location.pathname !== PATHS[tab.id]) history.replaceState(null, '', PATHS[tab.id]);
  }

  tabs.forEach((tab, index) => {
    tab.addEventListener('click', () => selectTab(tab));
    tab.addEventListener('keydown', (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      selectTab(tabs[(moves[event.key] + tabs.length) % tabs.length], { focus: true });
    });
  });
  const onRegister = location.pathname.replace(/\/+$/, '') === '/register';
  selectTab(onRegister ? tabs[1] : tabs[0], { updateUrl: false });

  /* Log in */
  const LOGIN_FIELDS = {
    user_not_found: 'login-identifier',
    password_validation_failed: 'login-password',
  };
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('login-submit');
    if (button.disabled) return;
    clearErrors(event.currentTarget);
    if (!requireFields(['login-identifier', 'login-password'])) return;

    const identifier = $('login-identifier').value.trim();
    const body = { password: $('login-password').value, remember: $('login-remember').checked };
    body[identifier.includes('@') ? 'email' : 'nickname'] = identifier;
    const result = await withBusy(button, () => api('/login', { method: 'POST', body, authRedirect: false }));
    if (result.ok) {
      signedIn(result.data);
      return;
    }
    showReason(result.reason, LOGIN_FIELDS, 'login-error');
    if (result.reason === 'email_not_verified') showVerify(identifier.includes('@') ? identifier : '');
  });

  /* The second step (TOTP): a right password may answer a challenge
     instead of a session; a role that must use TOTP enrols here first. */
  let challenge = null;

  function signedIn(data) {
    if (data && data.totp_required && typeof data.challenge === 'string') {
      showSecondStep(data.challenge, Boolean(data.totp_enrol));
      return;
    }
    location.assign('/main');
  }

  function showSecondStep(token, enrol) {
    challenge = token;
    for (const id of ['panel-login', 'panel-register', 'google-signin']) $(id).hidden = true;
    document.querySelector('.tabs').hidden = true;
    $('totp-step').hidden = false;
    $('totp-enrol').hidden = !enrol;
    if (enrol) loadEnrolment();
    $('totp-code').focus();
  }

  async function loadEnrolment() {
    const result = await api('/login/totp/enrol', { method: 'POST', body: { challenge }, authRedirect: false });
    if (!result.ok || !result.data) {
      $('totp-error').textContent = SSE.sentence(result.reason);
      return;
    }
    SSE.showTotpSecret(result.data, $('totp-qr'), $('totp-secret'));
  }

  const TOTP_FIELDS = { totp_code_not_valid: 'totp-code', totp_code_used: 'totp-code' };
  $('totp-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('totp-submit');
    if (button.disabled) return;
    clearErrors(event.currentTarget);
    if (!requireFields(['totp-code'])) return;
    const body = { challenge, code: $('totp-code').value.trim(), remember: $('login-remember').checked };
    const result = await withBusy(button, () => api('/login/totp', { method: 'POST', body, authRedirect: false }));
    if (result.ok) {
      const codes = result.data && result.data.recovery_codes;
      if (Array.isArray(codes)) {
        SSE.showRecoveryCodes(codes, $('totp-recovery-codes'));
        $('totp-form').hidden = true;
        $('totp-enrol').hidden = true;
        $('totp-cancel').hidden = true;
        $('totp-recovery').hidden = false;
        $('totp-continue').focus();
        return;
      }
      location.assign('/main');
      return;
    }
    $('totp-code').value = '';
    showReason(result.reason, TOTP_FIELDS, 'totp-error');
  });
  $('totp-continue').addEventListener('click', () => location.assign('/main'));
  $('totp-cancel').addEventListener('click', () => location.assign('/login'));

  /* Register */
  const REGISTER_FIELDS = {
    invalid_email: 'register-email',
    email_already_exists: 'register-email',
    invalid_nickname: 'register-nickname',
    username_already_exists: 'register-nickname',
    password_too_short: 'register-password',
    password_too_long: 'register-password',
  };
  $('register-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('register-submit');
    if (button.disabled) return;
    clearErrors(event.currentTarget);
    if (!requireFields(['register-email', 'register-nickname', 'register-password', 'register-confirm'])) return;

    const password = checkNewPassword('register-password', 'register-confirm', REGISTER_FIELDS, 'register-error');
    if (password === null) return;
    const body = {
      email: $('register-email').value.trim(),
      nickname: $('register-nickname').value.trim(),
      password,
      remember: $('register-remember').checked,
    };
    const result = await withBusy(button, () => api('/register', { method: 'POST', body, authRedirect: false }));
    if (result.ok && result.data && result.data.verification_required) {
      // No session yet: the account logs in once its email is confirmed.
      location.assign(`/login?verify=1&email=${encodeURIComponent(body.email)}`);
      return;
    }
    if (result.ok) {
      signedIn(result.data);
      return;
    }
    showReason(result.reason, REGISTER_FIELDS, 'register-error');
  });

  /* Forgot password: a small form that unfolds under the login form. */
  $('forgot-toggle').addEventListener('click', (event) => {
    const toggle = event.currentTarget;
    const section = $('forgot-section');
    section.hidden = !section.hidden;
    toggle.setAttribute('aria-expanded', String(!section.hidden));
    if (!section.hidden) {
      const identifier = $('login-identifier').value.trim();
      if (identifier.includes('@') && !$('forgot-email').value) $('forgot-email').value = identifier;
      $('forgot-email').focus();
    }
  });
  $('forgot-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('forgot-submit');
    if (button.disabled) return;
    clearErrors(event.currentTarget);
    $('forgot-status').textContent = '';
    if (!requireFields(['forgot-email'])) return;

    const body = { email: $('forgot-email').value.trim() };
    const result = await withBusy(button, () => api('/password/forgot', { method: 'POST', body, authRedirect: false }));
    if (result.ok) {
      $('forgot-status').textContent = 'If an account exists for that address, we sent a link.';
      return;
    }
    showReason(result.reason, { invalid_email: 'forgot-email' }, 'forgot-error');
  });

  /* Email verification: "send the link again", shown when it is needed. */
  function showVerify(email) {
    $('verify-section').hidden = false;
    if (email && !$('verify-email').value) $('verify-email').value = email;
  }
  if (query('verify') === '1') showVerify(query('email') || '');
  $('verify-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('verify-resend');
    if (button.disabled) return;
    clearErrors(event.currentTarget);
    $('verify-status').textContent = '';
    if (!requireFields(['verify-email'])) return;

    const body = { email: $('verify-email').value.trim() };
    const result = await withBusy(button, () => api('/verify_email/resend', { method: 'POST', body, authRedirect: false }));
    if (result.ok) {
      $('verify-status').textContent = 'If that address has an account still to confirm, we sent a new link.';
      return;
    }
    showReason(result.reason, { invalid_email: 'verify-email' }, 'verify-error');
  });

  /* Google sign-in: shown only when the server has a Google client id. */
  async function signInWithGoogle(idToken) {
    const status = $('google-signin-status');
    status.textContent = 'Signing in…';
    const body = { id_token: idToken, remember: $('login-remember').checked };
    const result = await api('/google_signin', { method: 'POST', body, authRedirect: false });
    if (result.ok) {
      signedIn(result.data);
      return;
    }
    status.textContent = SSE.sentence(result.reason);
  }

  async function showGoogleButton() {
    const clientId = await SSE.googleClientId();
    if (!clientId) return;
    $('google-signin').hidden = false;
    try {
      await SSE.googleButton($('google-signin-button'), clientId, signInWithGoogle);
    } catch (e) {
      $('google-signin-status').textContent = SSE.sentence('google_script_failed');
    }
  }
  showGoogleButton();
})();
