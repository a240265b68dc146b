import { AuthApi, AuthError, describeAuthError } from './auth-api';
import { ChatApp } from './chat-app';
import { byId, h } from './dom';
import { Session } from './session';

/**
 * The page's entry: resume the session of a previous visit if the browser still holds
 * its cookie, else show the login form; then the chat. Whenever the session ends
 * (logout, a refused refresh, a revoked token, a block) the login form comes back,
 * saying why.
 */

const api = new AuthApi();
const root = byId('root', HTMLDivElement);
let app: ChatApp | undefined;

function chatUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

async function startChat(session: Session): Promise<void> {
  root.replaceChildren(h('p', { class: 'splash' }, 'Connecting…'));
  const chat = new ChatApp({
    session,
    url: chatUrl(),
    ended: (reason) => {
      if (app === chat) app = undefined;
      showLogin(reason);
    },
  });
  app = chat;
  try {
    await chat.start(root);
  } catch {
    if (app !== chat) return; // the session ended meanwhile, and said so
    app = undefined;
    // The session is fine; the chat service is not answering. Keep the session, offer a retry.
    const retry = h('button', { type: 'button', class: 'primary', id: 'retry' }, 'Try again');
    retry.addEventListener('click', () => void startChat(session));
    const logout = h('button', { type: 'button', class: 'ghost' }, 'Log out');
    logout.addEventListener('click', () => {
      void session.logout().then(() => showLogin());
    });
    root.replaceChildren(
      h(
        'div',
        { class: 'login-screen' },
        h(
          'div',
          { class: 'login-card', role: 'alert' },
          h('h1', { class: 'brand big' }, 'securechat'),
          h('p', {}, 'The chat service could not be reached. It may be restarting; try again in a moment.'),
          h('div', { class: 'actions' }, retry, logout),
        ),
      ),
    );
    retry.focus();
  }
}

function onSessionEnded(reason: string): void {
  if (app !== undefined) app.sessionEnded(reason);
  else showLogin(reason);
}

function showLogin(reason?: string, username = Session.hint() ?? ''): void {
  const user = h('input', {
    name: 'username',
    id: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    minlength: 3,
    maxlength: 32,
    value: username,
  });
  const password = h('input', {
    name: 'password',
    id: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    minlength: 8,
  });
  const error = h('p', { class: 'form-error', id: 'login-error', role: 'alert' }, reason ?? '');
  const login = h('button', { type: 'submit', class: 'primary', id: 'login-button' }, 'Log in');
  const register = h('button', { type: 'button', class: 'ghost', id: 'register-button' }, 'Create account');
  const form = h(
    'form',
    { class: 'login-card', id: 'login', novalidate: true },
    h(
      'div',
      { class: 'brand big' },
      h('img', { src: 'favicon.svg', alt: '', width: 40, height: 40 }),
      h('span', {}, 'securechat'),
    ),
    h('p', { class: 'tagline' }, 'Chat rooms and direct messages.'),
    h('label', { for: 'username' }, 'Username'),
    user,
    h('label', { for: 'password' }, 'Password'),
    password,
    error,
    h('div', { class: 'actions' }, login, register),
  );
  const clear = () => {
    error.textContent = '';
  };
  user.addEventListener('input', clear);
  password.addEventListener('input', clear);

  const run = async (action: 'login' | 'register') => {
    if (!form.reportValidity()) return;
    login.disabled = register.disabled = true;
    error.textContent = '';
    try {
      if (action === 'register') await api.register(user.value, password.value);
      const session = await Session.login(api, user.value, password.value, onSessionEnded);
      password.value = '';
      await startChat(session);
    } catch (err) {
      error.textContent = describeAuthError(err, action);
      login.disabled = register.disabled = false;
      password.focus();
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void run('login');
  });
  register.addEventListener('click', () => void run('register'));

  root.replaceChildren(h('div', { class: 'login-screen' }, form));
  (username === '' ? user : password).focus();
}

async function boot(): Promise<void> {
  if (Session.hint() === undefined) {
    showLogin();
    return;
  }
  root.replaceChildren(h('p', { class: 'splash' }, 'Restoring your session…'));
  let session: Session;
  try {
    session = await Session.resume(api, onSessionEnded);
  } catch (err) {
    // A refused refresh already showed the login form (onSessionEnded); an outage did not.
    if (!(err instanceof AuthError && err.sessionEnded)) {
      showLogin(err instanceof AuthError ? err.message : 'The server cannot be reached. Try again.');
    }
    return;
  }
  await startChat(session);
}

void boot();
