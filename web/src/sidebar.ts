import type { Conversation } from './conversation';
import { h } from './dom';
import { avatarClass, initial, shortWhen } from './format';

export interface SidebarEvents {
  open(room: string): void;
  joinRoom(name: string): Promise<string | undefined>;
  startDm(username: string): Promise<string | undefined>;
  logout(): void;
}

const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

/**
 * The rooms and the inbox of direct conversations, each with its unread badge, newest
 * activity first for conversations; forms to join a room and to write to someone.
 */
export class Sidebar {
  readonly element: HTMLElement;
  private readonly rooms: HTMLUListElement;
  private readonly dms: HTMLUListElement;
  private readonly status: HTMLElement;

  constructor(
    private readonly me: string,
    private readonly events: SidebarEvents,
  ) {
    this.rooms = h('ul', { class: 'conv-list', 'aria-label': 'Rooms' });
    this.dms = h('ul', { class: 'conv-list', 'aria-label': 'Direct messages' });
    this.status = h('span', { class: 'me-status', id: 'me-status' }, 'connecting…');
    const logout = h('button', { type: 'button', class: 'ghost small', id: 'logout' }, 'Log out');
    logout.addEventListener('click', () => events.logout());

    this.element = h(
      'aside',
      { class: 'sidebar', id: 'sidebar', 'aria-label': 'Conversations' },
      h(
        'header',
        { class: 'brand' },
        h('img', { src: 'favicon.svg', alt: '', width: 28, height: 28 }),
        h('span', {}, 'securechat'),
      ),
      h(
        'nav',
        { class: 'sidebar-scroll' },
        this.section(
          'Rooms',
          'join-room',
          'Join or create a room',
          'room name, e.g. lobby',
          (value) => {
            const name = value.trim().replace(/^#/, '').toLowerCase();
            if (!ROOM_NAME.test(name)) return Promise.resolve('Room names: a-z, 0-9, - and _ (up to 64).');
            return events.joinRoom(name);
          },
          this.rooms,
        ),
        this.section(
          'Direct messages',
          'new-dm',
          'Write to someone',
          'username',
          (value) => {
            const name = value.trim().replace(/^@/, '');
            if (!USERNAME.test(name)) return Promise.resolve('Usernames are 3-32 of a-z 0-9 . _ -');
            if (name.toLowerCase() === me) return Promise.resolve('That is you.');
            return events.startDm(name.toLowerCase());
          },
          this.dms,
        ),
      ),
      h(
        'footer',
        { class: 'me' },
        h('span', { class: avatarClass(me), 'aria-hidden': 'true' }, initial(me)),
        h('span', { class: 'me-name' }, h('strong', { id: 'me-name' }, me), this.status),
        logout,
      ),
    );
  }

  /** The connection's state; `node` (the chat node serving it) is kept for support and tests. */
  setStatus(text: string, state: 'ok' | 'warn', node?: string): void {
    this.status.textContent = text;
    this.status.dataset.state = state;
    if (node !== undefined) this.status.dataset.node = node;
  }

  /** Redraws both lists from the conversations. */
  render(conversations: Conversation[], active: string | undefined): void {
    const rooms = conversations.filter((c) => !c.isDm).sort((a, b) => a.room.localeCompare(b.room));
    const dms = conversations.filter((c) => c.isDm).sort((a, b) => b.activity - a.activity);
    this.rooms.replaceChildren(...rooms.map((c) => this.item(c, active)));
    this.dms.replaceChildren(
      ...(dms.length > 0
        ? dms.map((c) => this.item(c, active))
        : [h('li', { class: 'empty-note' }, 'No conversations yet.')]),
    );
  }

  private item(c: Conversation, active: string | undefined): HTMLLIElement {
    const last = c.last;
    const preview =
      c.isDm && last !== undefined
        ? h(
            'span',
            { class: 'preview' },
            `${last.from === this.me ? 'You: ' : ''}${last.text.slice(0, 80).replace(/\s+/g, ' ')}`,
          )
        : undefined;
    const badge =
      c.unread > 0
        ? h(
            'span',
            { class: 'badge', 'aria-label': `${c.unread} unread` },
            c.unread >= 100 ? '99+' : String(c.unread),
          )
        : undefined;
    const when = c.isDm && last !== undefined ? h('span', { class: 'when' }, shortWhen(last.ts)) : undefined;
    const button = h(
      'button',
      {
        type: 'button',
        class: `conv${c.unread > 0 ? ' has-unread' : ''}`,
        'data-room': c.room,
        'aria-current': c.room === active ? 'page' : undefined,
      },
      c.isDm
        ? h('span', { class: avatarClass(c.peer ?? '?'), 'aria-hidden': 'true' }, initial(c.peer ?? '?'))
        : h('span', { class: 'hash', 'aria-hidden': 'true' }, '#'),
      h('span', { class: 'conv-main' }, h('span', { class: 'conv-name' }, c.peer ?? c.room), preview),
      when,
      badge,
    );
    button.addEventListener('click', () => this.events.open(c.room));
    return h('li', {}, button);
  }

  private section(
    title: string,
    id: string,
    action: string,
    placeholder: string,
    submit: (value: string) => Promise<string | undefined>,
    list: HTMLUListElement,
  ): HTMLElement {
    const input = h('input', {
      name: id,
      id: `${id}-input`,
      placeholder,
      autocomplete: 'off',
      autocapitalize: 'none',
      spellcheck: 'false',
      required: true,
      maxlength: 65,
      'aria-label': action,
    });
    const error = h('p', { class: 'form-error', role: 'alert' });
    const go = h('button', { type: 'submit', class: 'primary small' }, 'Go');
    const form = h('form', { class: 'inline-form', id: `${id}-form`, hidden: true }, input, go, error);
    const toggle = h(
      'button',
      {
        type: 'button',
        class: 'icon',
        id: `${id}-toggle`,
        title: action,
        'aria-label': action,
        'aria-expanded': 'false',
      },
      '+',
    );
    const setOpen = (open: boolean) => {
      form.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      error.textContent = '';
      if (open) input.focus();
    };
    toggle.addEventListener('click', () => setOpen(form.hidden));
    input.addEventListener('input', () => {
      error.textContent = '';
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        setOpen(false);
        toggle.focus();
      }
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      go.disabled = true;
      void submit(input.value).then((problem) => {
        go.disabled = false;
        if (problem !== undefined) {
          error.textContent = problem;
          return;
        }
        input.value = '';
        setOpen(false);
      });
    });
    return h('section', { class: 'side-section' }, h('h2', {}, h('span', {}, title), toggle), form, list);
  }
}
