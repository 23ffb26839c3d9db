/*
 * Shared helpers for every page: API calls, reason -> sentence mapping,
 * button progress and form error display. A classic (non-module) script
 * loaded before each page script; everything is exposed as window.SSE.
 */
(() => {
  'use strict';

  // Server (and client-side check) reason words -> sentences people read.
  const REASONS = {
    // client-side checks and transport problems
    field_required: 'Please fill in this field.',
    passwords_do_not_match: 'The two passwords do not match.',
    network_error: 'Could not reach the server. Check your connection and try again.',
    unexpected_response: 'The server sent an unexpected answer. Please reload the page.',
    missing_phrase: 'This password reset link is incomplete. Please open the link from the email again, or request a new one.',
    // login / register
    missing_query_parameter: 'Please fill in all required fields.',
    user_not_found: 'No account was found with that name or email.',
    password_validation_failed: 'The password is not correct.',
    too_many_attempts: 'Too many login attempts. Please wait a few minutes and try again.',
    invalid_email: 'Please enter a valid email address.',
    invalid_nickname: 'This nickname cannot be used. Please choose another one.',
    password_too_short: 'The password must be at least 8 characters long.',
    password_too_long: 'The password is too long. Please choose a shorter one.',
    email_already_exists: 'An account with this email address already exists.',
    username_already_exists: 'This nickname is already taken. Please choose another one.',
    // password reset by email
    mail_not_configured: 'Password reset by email is not available on this server. Please contact an administrator.',
    too_many_requests: 'Too many requests. Please wait a few minutes and try again.',
    phrase_not_valid: 'This password reset link is not valid or has expired. Please request a new one.',
    // email verification
    email_not_verified: 'Please confirm your email address first: open the link we mailed you.',
    token_not_valid: 'This confirmation link is not valid, was used already or has expired. Please ask for a new one on the login page.',
    missing_verification_token: 'This confirmation link is incomplete. Please open the link from the email again.',
    user_id_not_valid: 'This account does not exist.',
    // account
    no_token: 'Your session has expired, please log in again.',
    old_password_not_valid: 'The current password is not correct.',
    google_account_has_no_password: 'This account signs in with Google and has no password here.',
    // sign-in with Google
    google_authentication_failed: 'Google could not confirm who you are. Please try again.',
    google_reauthentication_required: 'Please confirm with Google again: a confirmation is valid for a few minutes only.',
    email_duplication: 'This email address belongs to an account with a password. Please log in with your password.',
    google_signin_not_configured: 'Sign in with Google is not available on this server.',
    google_signin_unavailable: 'Sign in with Google is unavailable right now. Please try again later.',
    google_script_failed: 'Google\'s sign-in button could not be loaded. Please try again later.',
    // two-factor sign-in (TOTP)
    totp_not_configured: 'Two-factor sign-in is not available on this server. Please contact an administrator.',
    totp_already_enabled: 'Two-factor sign-in is already on.',
    totp_not_enrolling: 'Please start setting up two-factor sign-in again.',
    totp_not_enabled: 'Two-factor sign-in is not on.',
    totp_code_not_valid: 'This code is not correct. Enter the code your app shows now, or a recovery code.',
    totp_code_used: 'This code was used already. Please wait for the next one.',
    totp_challenge_not_valid: 'This sign-in has expired. Please log in again.',
    // administration
    invalid_role: 'This role does not exist.',
    user_not_admin: 'Only administrators can do this.',
    cannot_delete_self: 'You cannot delete your own account here. Use "Delete account" at the top instead.',
    // sessions
    session_not_found: 'This session has already ended.',
  };

  // 401 answers that concern the request itself, not the session: they must
  // not send the person to the login page (e.g. a wrong password when deleting).
  const NOT_SESSION_401 = new Set([
    'password_validation_failed', 'user_not_admin',
    'google_authentication_failed', 'google_reauthentication_required', 'email_duplication',
    'totp_code_not_valid', 'totp_code_used', 'totp_challenge_not_valid',
  ]);

  function sentence(reason) {
    if (!reason) reason = 'unexpected_response';
    return REASONS[reason] || `Something went wrong, please try again later (reason: ${reason}).`;
  }

  /*
   * fetch + JSON. Never throws: resolves to {ok, status, data, reason}.
   * On a session 401 it navigates to /login?expired=1 and never resolves, so
   * callers do not flash an error while the page is leaving.
   * authRedirect: false for pages used without a session (login, reset).
   */
  async function api(path, { method = 'GET', body, authRedirect = true } = {}) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      return { ok: false, status: 0, data: null, reason: 'network_error' };
    }
    let data = null;
    const text = await response.text().catch(() => '');
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (response.ok) return { ok: true, status: response.status, data, reason: null };

    const reason = (data && typeof data.reason === 'string' && data.reason) || `http_${response.status}`;
    if (response.status === 401 && authRedirect && !NOT_SESSION_401.has(reason)) {
      location.assign('/login?expired=1');
      return new Promise(() => {});
    }
    return { ok: false, status: response.status, data, reason };
  }

  // Disables the button and shows "…" text while task() runs.
  async function withBusy(button, task) {
    const label = button.textContent;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.textContent = button.dataset.busyLabel || `${label.trim()}…`;
    try {
      return await task();
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      button.textContent = label;
    }
  }

  const $ = (id) => document.getElementById(id);

  // Small DOM builder; text goes in as text nodes, never as HTML.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // Field errors live in <p class="field-error" id="<input id>-error">.
  function setFieldError(inputId, reason) {
    const input = $(inputId);
    $(`${inputId}-error`).textContent = sentence(reason);
    input.setAttribute('aria-invalid', 'true');
  }

  function clearErrors(form) {
    form.querySelectorAll('.field-error, .form-error').forEach((node) => { node.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach((node) => node.removeAttribute('aria-invalid'));
  }

  // Shows the reason next to its field (fieldMap: reason -> input id), else in the form error.
  function showReason(reason, fieldMap, formErrorId) {
    const inputId = fieldMap[reason];
    if (inputId) {
      setFieldError(inputId, reason);
      $(inputId).focus();
    } else {
      $(formErrorId).textContent = sentence(reason);
    }
  }

  // Marks every empty field; returns true when all are filled.
  function requireFields(ids) {
    const empty = ids.filter((id) => $(id).value.trim() === '');
    empty.forEach((id) => setFieldError(id, 'field_required'));
    if (empty.length) $(empty[0]).focus();
    return empty.length === 0;
  }

  const query = (name) => new URLSearchParams(location.search).get(name);

  const MIN_PASSWORD_LENGTH = 8;

  // A new password's checks before it is sent: long enough, and the same in
  // its confirmation field. Shows what is wrong (fieldMap and formErrorId as
  // for showReason); returns the password, or null.
  function checkNewPassword(passwordId, confirmId, fieldMap, formErrorId) {
    const password = $(passwordId).value;
    if (password.length < MIN_PASSWORD_LENGTH) {
      showReason('password_too_short', fieldMap, formErrorId);
      return null;
    }
    if (password !== $(confirmId).value) {
      setFieldError(confirmId, 'passwords_do_not_match');
      $(confirmId).focus();
      return null;
    }
    return password;
  }

  // Shared state between main.js and admin.js (loaded in any order).
  const state = { user: null, moduleCount: null };

  /*
   * Google's sign-in button. Google's script is loaded only when the server
   * names a client id (GET /auth/config): only then does the page's
   * Content-Security-Policy allow Google's origin at all.
   */
  let googleScript = null;
  function loadGoogleScript() {
    if (!googleScript) {
      googleScript = new Promise((resolve, reject) => {
        const script = document.createElement('script');
        script.src = 'https://accounts.google.com/gsi/client';
        script.async = true;
        script.onload = () => resolve(window.google);
        script.onerror = () => reject(new Error('google_script_failed'));
        document.head.appendChild(script);
      });
    }
    return googleScript;
  }

  async function googleClientId() {
    const result = await api('/auth/config', { authRedirect: false });
    const id = result.ok && result.data ? result.data.google_client_id : null;
    return typeof id === 'string' && id !== '' ? id : null;
  }

  /* Renders Google's button into `container`; `onCredential(idToken)` gets the ID token. */
  async function googleButton(container, clientId, onCredential) {
    const google = await loadGoogleScript();
    google.accounts.id.initialize({ client_id: clientId, callback: (answer) => onCredential(answer.credential) });
    google.accounts.id.renderButton(container, { theme: 'outline', size: 'large', width: 280 });
  }

  /*
   * TOTP enrolment: the QR code is SVG markup the platform made; it is
   * parsed as an SVG document (scripts in it would not run) and only an
   * <svg> root is shown. The key is shown as text.
   */
  function showTotpSecret(data, qrBox, secretBox) {
    secretBox.textContent = typeof data.secret === 'string' ? data.secret : '';
    const svg = new DOMParser().parseFromString(String(data.qr_svg || ''), 'image/svg+xml').documentElement;
    if (svg && svg.localName === 'svg' && !svg.querySelector('script')) {
      svg.setAttribute('role', 'img');
      svg.setAttribute('aria-label', 'QR code of the key');
      qrBox.replaceChildren(document.importNode(svg, true));
    }
  }

  function showRecoveryCodes(codes, list) {
    list.replaceChildren(...codes.map((code) => el('li', {}, el('code', {}, String(code)))));
  }

  window.SSE = {
    showTotpSecret, showRecoveryCodes,
    googleClientId, googleButton,
    REASONS, sentence, api, withBusy, $, el, setFieldError, clearErrors,
    showReason, requireFields, checkNewPassword, query, state,
  };
})();
