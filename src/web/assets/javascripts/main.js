/* Main page for every user: who am I, running modules, log out, delete account. */
(() => {
  'use strict';
  const { api, withBusy, sentence, $, el, clearErrors, showReason, requireFields, state } = window.SSE;
  const MODULE_REFRESH_MS = 10_000;

  async function loadUser() {
    const result = await api('/me');
    const user = result.ok && result.data ? result.data.user : null;
    if (!user) {
      $('page-error').textContent = sentence(result.reason);
      return;
    }
    state.user = user;
    $('user-name').textContent = user.name;
    $('user-role').textContent = user.role;
    // admin.js listens; it may also read state.user if it loads later.
    document.dispatchEvent(new CustomEvent('sse:user', { detail: user }));
  }

  /* Running modules */

  // The scheme of links to modules (config module_link_scheme), else ours.
  let linkScheme = location.protocol;
  async function loadLinkScheme() {
    const result = await api('/auth/config', { authRedirect: false });
    const scheme = result.ok && result.data ? result.data.module_link_scheme : null;
    if (scheme === 'http' || scheme === 'https') linkScheme = `${scheme}:`;
  }

  // A module opens at its own url when it has one, else on its port of this host.
  function moduleUrl(info) {
    if (info && typeof info.url === 'string') {
      try {
        const url = new URL(info.url, location.href);
        if (url.protocol === 'http:' || url.protocol === 'https:') return url.href;
      } catch { /* not a URL: fall back to the port */ }
    }
    const port = Number(info && info.port);
    if (Number.isInteger(port) && port > 0 && port < 65536) {
      return `${linkScheme}//${location.hostname}:${port}/`;
    }
    return null;
  }

  const idPart = (name) => name.replace(/[^A-Za-z0-9_-]/g, '_');

  let lastSignature = null;
  let modulesLoading = false;

  async function refreshModules() {
    if (modulesLoading) return;
    modulesLoading = true;
    try {
      const result = await api('/execution/running');
      if (!result.ok) {
        // Keep the last known list; just say the refresh failed.
        $('modules-error').textContent = sentence(result.reason);
        return;
      }
      $('modules-error').textContent = '';
      const running = (result.data && result.data.running_modules) || {};
      const modules = Object.entries(running)
        .filter(([name]) => name !== 'platform')
        .map(([name, info]) => ({ name, url: moduleUrl(info) }))
        .sort((a, b) => a.name.localeCompare(b.name));

      state.moduleCount = modules.length;
      document.dispatchEvent(new CustomEvent('sse:modules', { detail: { count: modules.length } }));

      // Rebuild only on change, so a focused link keeps its focus across refreshes.
      const signature = JSON.stringify(modules);
      if (signature === lastSignature) return;
      lastSignature = signature;
      renderModules(modules);
    } finally {
      modulesLoading = false;
    }
  }

  function renderModules(modules) {
    const items = modules.map(({ name, url }) => {
      const id = idPart(name);
      const content = url
        ? el('a', { href: url, id: `module-link-${id}`, 'data-testid': `module-link-${id}` }, name)
        : el('span', {}, name, ' (no address)');
      return el('li', { id: `module-${id}`, 'data-testid': `module-${id}` }, content);
    });
    $('modules-list').replaceChildren(...items);
    $('modules-empty').textContent = modules.length ? '' : 'No modules are running.';
    $('modules-empty').hidden = modules.length > 0;
  }

  /* Log out: whatever the server answers, the session is unusable afterwards. */
  $('logout-button').addEventListener('click', async (event) => {
    const button = event.currentTarget;
    if (button.disabled) return;
    $('page-error').textContent = '';
    const result = await withBusy(button, () => api('/logout', { method: 'POST', authRedirect: false }));
    if (result.reason === 'network_error') {
      $('page-error').textContent = sentence(result.reason);
      return;
    }
    location.assign('/login');
  });

  /* Delete account, confirmed with the password in a modal dialog. */
  const dialog = $('delete-dialog');
  const deleteForm = $('delete-form');

  $('delete-account-button').addEventListener('click', () => {
    deleteForm.reset();
    clearErrors(deleteForm);
    const google = Boolean(SSE.state.user && SSE.state.user.google_user);
    $('delete-google').hidden = !google;
    $('delete-password-field').hidden = google;
    $('delete-confirm-button').hidden = google;
    dialog.showModal();
    if (google) {
      showGoogleConfirmation();
    } else {
      $('delete-password').focus();
    }
  });

  /* A Google account has no password: a fresh Google sign-in confirms. */
  async function showGoogleConfirmation() {
    const clientId = await SSE.googleClientId();
    if (!clientId) {
      $('delete-error').textContent = SSE.sentence('google_signin_not_configured');
      return;
    }
    try {
      await SSE.googleButton($('delete-google-button'), clientId, deleteWithGoogle);
    } catch (e) {
      $('delete-error').textContent = SSE.sentence('google_script_failed');
    }
  }

  async function deleteWithGoogle(idToken) {
    const result = await api('/delete_account', { method: 'DELETE', body: { id_token: idToken } });
    if (result.ok) {
      location.assign('/login?deleted=1');
      return;
    }
    $('delete-error').textContent = SSE.sentence(result.reason);
  }
  $('delete-cancel-button').addEventListener('click', () => dialog.close());

  deleteForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = $('delete-confirm-button');
    if (button.disabled) return;
    clearErrors(deleteForm);
    if (!requireFields(['delete-password'])) return;

    const body = { password: $('delete-password').value };
    const result = await withBusy(button, () => api('/delete_account', { method: 'DELETE', body }));
    if (result.ok) {
      location.assign('/login?deleted=1');
      return;
    }
    showReason(result.reason, { password_validation_failed: 'delete-password' }, 'delete-error');
  });

  /* Start once every deferred script (admin.js too) has run. */
  document.addEventListener('DOMContentLoaded', async () => {
    loadUser();
    await loadLinkScheme();
    refreshModules();
    setInterval(() => { if (!document.hidden) refreshModules(); }, MODULE_REFRESH_MS);
    // A background tab skips refreshes; catch up as soon as it is shown again.
    document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshModules(); });
  });
})();
