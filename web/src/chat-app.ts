import {
  ChatClient,
  ChatError,
  compareMessageIds,
  dmRoomOf,
  type ChatMessage,
  type RateLimitedInfo,
  type WelcomeMessage,
} from '@securechat/sdk/browser';
import { Composer } from './composer';
import { Conversation } from './conversation';
import { h } from './dom';
import { clockTime, inHowLong } from './format';
import { DEFAULT_MAX_MESSAGE_BYTES, frameBytes } from './limits';
import { RoomPane, type Pending } from './room-pane';
import type { Session } from './session';
import { Sidebar } from './sidebar';

const HISTORY_PAGE = 50;
const FIRST_ROOM = 'lobby';
const ACTIVE_KEY = 'securechat.active';
/** Marking as read waits this long, so a burst of messages costs one request. */
const READ_DEBOUNCE_MS = 400;

export interface ChatAppOptions {
  session: Session;
  /** The WebSocket URL of the chat service (`wss://host/ws` beside the page by default). */
  url: string;
  /** Called when the chat is over for good (logged out, revoked, blocked). */
  ended(reason: string | undefined): void;
}

/**
 * The signed-in page: the SDK's client and the conversations it feeds, the sidebar, one
 * pane per conversation, the member list and the composer.
 */
export class ChatApp {
  private readonly client: ChatClient;
  private readonly conversations = new Map<string, Conversation>();
  private readonly panes = new Map<string, RoomPane>();
  private readonly drafts = new Map<string, string>();
  private readonly pending = new Map<string, Pending[]>();
  private readonly readTimers = new Map<string, number>();
  private pendingKey = 0;
  private me = '';
  private maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  private active: string | undefined;
  private limitedUntil = 0;
  private ticker: number | undefined;
  private finished = false;

  // Parts of the page, made in mount().
  private root!: HTMLElement;
  private sidebar!: Sidebar;
  private composer!: Composer;
  private panesEl!: HTMLElement;
  private title!: HTMLElement;
  private subtitle!: HTMLElement;
  private membersEl!: HTMLUListElement;
  private membersPanel!: HTMLElement;
  private membersToggle!: HTMLButtonElement;
  private leaveButton!: HTMLButtonElement;
  private banner!: HTMLElement;
  private menu!: HTMLButtonElement;
  private notice!: HTMLElement;
  private empty!: HTMLElement;

  constructor(private readonly options: ChatAppOptions) {
    this.client = new ChatClient({ url: options.url, getToken: options.session.getToken });
  }

  /** Connects, then draws the page into `root`. Rejects if the first connection fails. */
  async start(root: HTMLElement): Promise<void> {
    const welcome = await this.client.connect();
    this.onWelcome(welcome);
    this.mount(root);
    this.listen();
    await this.loadConversations();
  }

  // ---------------------------------------------------------------------------------------
  // The SDK's side

  private listen(): void {
    const c = this.client;
    c.on('welcome', (w) => this.onWelcome(w));
    c.on('message', (m) => this.onMessage(m));
    c.on('presence', (p) => {
      const conv = this.conversations.get(p.room);
      if (conv === undefined) return;
      conv.members.set(p.user, p.state);
      if (p.room === this.active) this.renderMembers();
    });
    c.on('read', ({ room, id }) => {
      const conv = this.conversations.get(room);
      if (conv === undefined) return;
      conv.readId = maxId(conv.readId, id);
      conv.unread = conv.unreadAfter(conv.readId, this.me);
      this.renderSidebar();
    });
    c.on('disconnect', () => this.setConnection('Reconnecting…', 'warn'));
    c.on('reconnecting', (attempt, delayMs) =>
      this.setConnection(
        attempt > 1 ? `Connection lost. Retrying in ${inHowLong(delayMs)}…` : 'Reconnecting…',
        'warn',
      ),
    );
    c.on('reconnected', () => {
      this.setConnection(undefined, 'ok');
      void this.afterReconnect();
    });
    c.on('rate_limited', (info) => this.onRateLimited(info));
    c.on('close', (code, reason) => this.onClose(code, reason));
    c.on('error', () => {
      // Reported per request where one waits; the rest (a refused rejoin, a failed token
      // refresh the next connection retries) needs no words on screen.
    });
  }

  private onWelcome(welcome: WelcomeMessage): void {
    this.me = welcome.user;
    const limit = (welcome as { max_message_bytes?: unknown }).max_message_bytes;
    if (typeof limit === 'number' && limit > 0) this.maxMessageBytes = limit;
    this.composer?.setMeasure((text) => this.measure(text));
  }

  private onMessage(m: ChatMessage): void {
    const conv = this.conversation(m.room);
    const fresh = conv.add([m]);
    if (fresh.length === 0) return;
    this.dropPendingFor(m);
    this.panes.get(m.room)?.update();
    if (m.from !== this.me) {
      if (this.isReading(m.room)) this.scheduleRead(m.room);
      else if (conv.readId === undefined || compareMessageIds(m.id, conv.readId) > 0) conv.unread += 1;
    }
    this.renderSidebar();
  }

  private onClose(code: number, reason: string): void {
    if (this.finished) return;
    const why =
      reason === 'blocked'
        ? 'This account is blocked.'
        : reason === 'token_revoked'
          ? 'You were logged out (this session was ended elsewhere).'
          : code === 1000
            ? undefined
            : 'The connection was closed. Please log in again.';
    this.finish(why);
  }

  private async afterReconnect(): Promise<void> {
    // Conversations that began while away; the SDK caught up the rooms and DMs it knew.
    await this.loadConversations(false);
  }

  // ---------------------------------------------------------------------------------------
  // Conversations

  private conversation(room: string): Conversation {
    let conv = this.conversations.get(room);
    if (conv !== undefined) return conv;
    const peer = room.startsWith('dm:')
      ? room
          .slice(3)
          .split(':')
          .find((u) => u !== this.me)
      : undefined;
    conv = new Conversation(room, peer);
    this.conversations.set(room, conv);
    const pane = new RoomPane(conv, this.me, {
      wantsOlder: () => void this.loadOlder(room),
      retry: (p) => this.retry(room, p),
      discard: (p) => this.removePending(room, p.key),
    });
    this.panes.set(room, pane);
    this.panesEl.append(pane.element);
    return conv;
  }

  private async loadConversations(first = true): Promise<void> {
    let items: Awaited<ReturnType<ChatClient['conversations']>> = [];
    try {
      items = await this.client.conversations();
    } catch {
      // Without the list (the next reconnect asks again), the rooms known here carry on.
    }
    for (const item of items) {
      const conv = this.conversation(item.room);
      if (
        item.last !== undefined &&
        (conv.last === undefined || compareMessageIds(item.last.id, conv.last.id) > 0)
      ) {
        conv.last = item.last;
        conv.activity = Math.max(conv.activity, item.last.ts);
      }
      if (!this.isReading(item.room)) conv.unread = item.unread;
    }
    const rooms = [...this.conversations.values()].filter((c) => !c.isDm && !c.joined);
    await Promise.all(rooms.map((c) => this.join(c.room)));
    this.renderSidebar();
    if (first) {
      const saved = readActive();
      const start =
        saved !== undefined && this.conversations.has(saved)
          ? saved
          : ([...this.conversations.values()].find((c) => !c.isDm)?.room ??
            [...this.conversations.keys()][0]);
      if (start !== undefined) await this.open(start);
      else this.showEmpty();
    }
  }

  private async join(room: string): Promise<string | undefined> {
    const conv = this.conversation(room);
    try {
      const joined = await this.client.join(room);
      conv.joined = true;
      conv.members.clear();
      for (const member of joined.members) conv.members.set(member, 'online');
      if (room === this.active) this.renderMembers();
      return undefined;
    } catch (err) {
      if (!conv.loaded && conv.messages.length === 0) this.forget(room);
      return err instanceof ChatError ? `Could not join: ${err.message}` : 'Could not join.';
    }
  }

  private async joinAndOpen(room: string): Promise<string | undefined> {
    const problem = this.conversations.get(room)?.joined ? undefined : await this.join(room);
    if (problem === undefined) {
      this.renderSidebar();
      await this.open(room);
    }
    return problem;
  }

  private forget(room: string): void {
    this.conversations.delete(room);
    this.panes.get(room)?.element.remove();
    this.panes.delete(room);
  }

  /** Shows a conversation: its pane, members, draft; loads its first page of history. */
  private async open(room: string): Promise<void> {
    const conv = this.conversation(room);
    if (this.active !== undefined && this.active !== room) this.panes.get(this.active)?.hide();
    this.active = room;
    saveActive(room);
    this.empty.hidden = true;
    this.panesEl.hidden = false;
    this.composer.element.hidden = false;
    const pane = this.panes.get(room) as RoomPane;
    pane.show();
    this.title.textContent = conv.title;
    this.leaveButton.hidden = conv.isDm;
    this.membersToggle.hidden = conv.isDm;
    this.composer.setText(this.drafts.get(room) ?? '');
    this.composer.setPlaceholder(conv.isDm ? `Message ${conv.peer}` : `Message #${room}`);
    this.composer.setMeasure((text) => this.measure(text));
    this.renderMembers();
    this.renderSidebar();
    this.renderNotice();
    this.closeDrawer();
    if (!conv.loaded) await this.loadFirstPage(room);
    this.markReadNow(room);
    if (window.matchMedia('(pointer: fine)').matches) this.composer.focus();
  }

  private async loadFirstPage(room: string): Promise<void> {
    const conv = this.conversation(room);
    const pane = this.panes.get(room) as RoomPane;
    pane.setLoadingOlder(true);
    try {
      const messages = await this.client.history(room, { limit: HISTORY_PAGE });
      conv.add(messages);
      conv.loaded = true;
      if (messages.length < HISTORY_PAGE) conv.complete = true;
    } catch {
      // Shown as not loaded; opening the room again retries.
    } finally {
      pane.setLoadingOlder(false);
    }
    pane.update();
    pane.scrollToBottom();
    if (pane.needsMore()) await this.loadOlder(room);
  }

  private readonly loadingOlder = new Set<string>();

  private async loadOlder(room: string): Promise<void> {
    const conv = this.conversation(room);
    const pane = this.panes.get(room) as RoomPane;
    if (conv.complete || this.loadingOlder.has(room) || !conv.loaded) return;
    this.loadingOlder.add(room);
    pane.setLoadingOlder(true);
    try {
      const before = conv.oldestId;
      const messages = await this.client.history(room, {
        limit: HISTORY_PAGE,
        ...(before === undefined ? {} : { before }),
      });
      if (messages.length < HISTORY_PAGE) conv.complete = true;
      conv.add(messages);
    } catch {
      // The next scroll tries again.
    } finally {
      this.loadingOlder.delete(room);
      pane.setLoadingOlder(false);
    }
    pane.update({ older: true });
  }

  // ---------------------------------------------------------------------------------------
  // Reading

  /** The reader can see this conversation's newest messages right now. */
  private isReading(room: string): boolean {
    return (
      room === this.active &&
      document.visibilityState === 'visible' &&
      document.hasFocus() &&
      (this.panes.get(room)?.atBottom() ?? false)
    );
  }

  private scheduleRead(room: string): void {
    if (this.readTimers.has(room)) return;
    this.readTimers.set(
      room,
      window.setTimeout(() => {
        this.readTimers.delete(room);
        this.markReadNow(room);
      }, READ_DEBOUNCE_MS),
    );
  }

  private markReadNow(room: string): void {
    const conv = this.conversations.get(room);
    const newest = conv?.newest;
    if (conv === undefined || newest === undefined) {
      if (conv !== undefined) conv.unread = 0;
      return;
    }
    conv.unread = 0;
    this.renderSidebar();
    if (conv.readId !== undefined && compareMessageIds(newest.id, conv.readId) <= 0) return;
    conv.readId = newest.id;
    this.client.markRead(room, newest.id).catch(() => {
      conv.readId = undefined; // said again on the next message or visit
    });
  }

  private onReaderReturned(): void {
    if (this.active !== undefined && this.isReading(this.active)) this.markReadNow(this.active);
  }

  // ---------------------------------------------------------------------------------------
  // Sending

  private target(room: string): { room: string } | { to: string } {
    const conv = this.conversations.get(room);
    return conv?.peer !== undefined ? { to: conv.peer } : { room };
  }

  private measure(text: string): { used: number; limit: number } {
    if (this.active === undefined) return { used: 0, limit: this.maxMessageBytes };
    return { used: frameBytes(text, this.target(this.active)), limit: this.maxMessageBytes };
  }

  private submit(text: string): void {
    const room = this.active;
    if (room === undefined) return;
    const entry: Pending = { key: ++this.pendingKey, text, state: 'sending' };
    if (this.limitedUntil > Date.now()) {
      entry.state = 'queued';
      entry.until = this.limitedUntil;
    }
    this.pending.set(room, [...(this.pending.get(room) ?? []), entry]);
    this.renderPending(room);
    this.panes.get(room)?.scrollToBottom();
    void this.deliver(room, entry);
  }

  private async deliver(room: string, entry: Pending): Promise<void> {
    const conv = this.conversation(room);
    try {
      entry.id =
        conv.peer !== undefined
          ? await this.client.dm(conv.peer, entry.text)
          : await this.client.send(room, entry.text);
      if (conv.has(entry.id)) this.removePending(room, entry.key);
      else this.renderPending(room);
      this.markReadNow(room);
    } catch (err) {
      entry.state = 'failed';
      this.renderPending(room);
      if (err instanceof ChatError && err.code === 'forbidden' && !conv.isDm) {
        // Not in the room any more (say, after a long outage): join and let the user retry.
        void this.join(room);
      }
    }
  }

  private retry(room: string, p: Pending): void {
    p.state = this.limitedUntil > Date.now() ? 'queued' : 'sending';
    p.until = this.limitedUntil;
    this.renderPending(room);
    void this.deliver(room, p);
  }

  private dropPendingFor(m: ChatMessage): void {
    const list = this.pending.get(m.room);
    const done = list?.find((p) => p.id === m.id);
    if (done !== undefined) this.removePending(m.room, done.key);
  }

  private removePending(room: string, key: number): void {
    this.pending.set(
      room,
      (this.pending.get(room) ?? []).filter((p) => p.key !== key),
    );
    this.renderPending(room);
  }

  private renderPending(room: string): void {
    this.panes.get(room)?.setPending(this.pending.get(room) ?? []);
    this.renderNotice();
  }

  private onRateLimited(info: RateLimitedInfo): void {
    this.limitedUntil = Math.max(this.limitedUntil, info.until);
    for (const [room, list] of this.pending) {
      for (const p of list) {
        if (p.state === 'sending' && p.id === undefined) {
          p.state = 'queued';
          p.until = this.limitedUntil;
        }
      }
      this.panes.get(room)?.setPending(list);
    }
    this.renderNotice();
    this.ticker ??= window.setInterval(() => this.tick(), 1000);
  }

  /** Once a second while limited: the countdowns, and the end of the wait. */
  private tick(): void {
    const now = Date.now();
    if (now >= this.limitedUntil) {
      window.clearInterval(this.ticker);
      this.ticker = undefined;
      for (const list of this.pending.values())
        for (const p of list) if (p.state === 'queued') p.state = 'sending';
    }
    for (const [room, list] of this.pending) if (list.length > 0) this.panes.get(room)?.setPending(list);
    this.renderNotice();
  }

  private renderNotice(): void {
    const now = Date.now();
    const waiting = [...this.pending.values()]
      .flat()
      .filter((p) => p.state !== 'failed' && p.id === undefined).length;
    if (this.limitedUntil <= now) {
      this.notice.hidden = true;
      return;
    }
    this.notice.hidden = false;
    this.notice.replaceChildren(
      h('strong', {}, 'Slow down a little. '),
      `You can send again at ${clockTime(this.limitedUntil)} (in ${inHowLong(this.limitedUntil - now)}).`,
      waiting > 0
        ? ` ${waiting === 1 ? 'Your waiting message goes' : `Your ${waiting} waiting messages go`} out by themselves, in order.`
        : '',
    );
  }

  // ---------------------------------------------------------------------------------------
  // The page

  private mount(root: HTMLElement): void {
    this.root = root;
    this.sidebar = new Sidebar(this.me, {
      open: (room) => void this.open(room),
      joinRoom: (name) => this.joinAndOpen(name),
      startDm: async (user) => {
        const room = dmRoomOf(this.me, user);
        this.conversation(room);
        this.renderSidebar();
        await this.open(room);
        return undefined;
      },
      logout: () => void this.logout(),
    });
    this.composer = new Composer({
      submit: (text) => this.submit(text),
      changed: (text) => {
        if (this.active !== undefined) this.drafts.set(this.active, text);
      },
    });
    this.composer.setMeasure((text) => this.measure(text));

    const menu = (this.menu = h(
      'button',
      {
        type: 'button',
        class: 'icon menu',
        id: 'menu',
        'aria-label': 'Conversations',
        'aria-controls': 'sidebar',
      },
      '☰',
    ));
    menu.addEventListener('click', () => this.toggleDrawer());
    this.title = h('h1', { class: 'room-title', id: 'room-title' });
    this.subtitle = h('span', { class: 'room-subtitle' });
    this.membersToggle = h(
      'button',
      {
        type: 'button',
        class: 'ghost small',
        id: 'members-toggle',
        'aria-controls': 'members',
        'aria-expanded': 'false',
      },
      'Members',
    );
    this.membersToggle.addEventListener('click', () => this.toggleMembers());
    this.leaveButton = h('button', { type: 'button', class: 'ghost small', id: 'leave' }, 'Leave');
    this.leaveButton.addEventListener('click', () => void this.leave());
    this.banner = h('div', { class: 'banner', id: 'connection', role: 'status', hidden: true });
    this.notice = h('div', { class: 'notice', id: 'rate-notice', role: 'status', hidden: true });
    this.panesEl = h('div', { class: 'panes' });
    const joinFirst = h(
      'button',
      { type: 'button', class: 'primary', id: 'join-first' },
      `Join #${FIRST_ROOM}`,
    );
    joinFirst.addEventListener('click', () => void this.joinAndOpen(FIRST_ROOM));
    this.empty = h(
      'div',
      { class: 'empty-state', hidden: true },
      h('h2', {}, `Welcome, ${this.me}`),
      h('p', {}, 'Join a room to meet people, or write to someone directly with + beside Direct messages.'),
      h('p', {}, joinFirst),
    );
    this.membersEl = h('ul', { class: 'member-list' });
    this.membersPanel = h(
      'aside',
      { class: 'members', id: 'members', 'aria-label': 'Members' },
      h('h2', {}, 'Members'),
      this.membersEl,
    );
    const scrim = h('div', { class: 'scrim', 'aria-hidden': 'true' });
    scrim.addEventListener('click', () => {
      this.closeDrawer();
      this.setMembersOpen(false);
    });
    const main = h(
      'main',
      { class: 'main' },
      h(
        'header',
        { class: 'room-header' },
        menu,
        h('div', { class: 'room-heading' }, this.title, this.subtitle),
        this.membersToggle,
        this.leaveButton,
      ),
      this.banner,
      this.panesEl,
      this.empty,
      this.notice,
      this.composer.element,
    );
    const shell = h('div', { class: 'app', id: 'app' }, this.sidebar.element, main, this.membersPanel, scrim);
    root.replaceChildren(shell);
    this.setConnection(undefined, 'ok');

    document.addEventListener('visibilitychange', () => this.onReaderReturned());
    window.addEventListener('focus', () => this.onReaderReturned());
    document.addEventListener('keydown', (e) => this.onKey(e));
    this.panesEl.addEventListener('scroll', () => this.onReaderReturned(), { capture: true, passive: true });
  }

  private showEmpty(): void {
    if (this.active !== undefined) this.panes.get(this.active)?.hide();
    this.active = undefined;
    this.empty.hidden = false;
    this.panesEl.hidden = true;
    this.renderMembers();
    this.composer.element.hidden = true;
    this.title.textContent = 'securechat';
    this.leaveButton.hidden = true;
    this.membersToggle.hidden = true;
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === 'Escape') {
      if (this.root.querySelector('.app.drawer-open, .app.members-open') !== null) {
        this.closeDrawer();
        this.setMembersOpen(false);
        this.composer.focus();
      }
      return;
    }
    // Alt+Up / Alt+Down: the previous or next conversation in the sidebar's order.
    if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      e.preventDefault();
      const order = [...this.sidebar.element.querySelectorAll<HTMLButtonElement>('button.conv')].map(
        (b) => b.dataset.room as string,
      );
      const at = this.active === undefined ? -1 : order.indexOf(this.active);
      const next = order[(at + (e.key === 'ArrowDown' ? 1 : order.length - 1)) % order.length];
      if (next !== undefined) void this.open(next);
    }
  }

  private renderSidebar(): void {
    this.sidebar.render([...this.conversations.values()], this.active);
    const unread = [...this.conversations.values()].reduce((n, c) => n + c.unread, 0);
    document.title = unread > 0 ? `(${unread}) securechat` : 'securechat';
    // On a phone the sidebar is hidden: its menu button shows that something waits there.
    this.menu.classList.toggle('has-unread', unread > 0);
  }

  private renderMembers(): void {
    const conv = this.active === undefined ? undefined : this.conversations.get(this.active);
    // A DM or nothing open has no member list: the chat takes its column.
    this.root.querySelector('.app')?.classList.toggle('no-members', conv === undefined || conv.isDm);
    if (conv === undefined || conv.isDm) {
      this.membersEl.replaceChildren();
      this.membersPanel.classList.add('none');
      this.subtitle.textContent = conv?.isDm ? this.peerPresence(conv.peer as string) : '';
      return;
    }
    this.membersPanel.classList.remove('none');
    const members = conv.memberList();
    const online = members.filter((m) => m.state === 'online').length;
    this.subtitle.textContent = `${online} online`;
    this.membersToggle.textContent = `Members (${online})`;
    this.membersEl.replaceChildren(
      ...members.map((m) => {
        const item = h(
          'li',
          { class: `member ${m.state}`, 'data-user': m.user },
          h('span', { class: 'dot', 'aria-hidden': 'true' }),
          h('span', { class: 'member-name' }, m.user === this.me ? `${m.user} (you)` : m.user),
          h('span', { class: 'sr-only' }, m.state),
        );
        if (m.user !== this.me) {
          const write = h(
            'button',
            { type: 'button', class: 'link small', 'aria-label': `Message ${m.user}` },
            'Message',
          );
          write.addEventListener('click', () => {
            const room = dmRoomOf(this.me, m.user);
            this.conversation(room);
            this.setMembersOpen(false);
            void this.open(room);
          });
          item.append(write);
        }
        return item;
      }),
    );
  }

  /** "online" if the peer is seen online in any room here. */
  private peerPresence(peer: string): string {
    for (const conv of this.conversations.values()) if (conv.members.get(peer) === 'online') return 'online';
    return 'direct message';
  }

  private setConnection(text: string | undefined, state: 'ok' | 'warn'): void {
    this.banner.hidden = text === undefined;
    this.banner.textContent = text ?? '';
    this.sidebar.setStatus(state === 'ok' ? 'online' : 'reconnecting…', state, this.client.welcome?.node);
  }

  private toggleDrawer(): void {
    const app = this.root.querySelector('.app');
    const open = !(app?.classList.contains('drawer-open') ?? false);
    app?.classList.toggle('drawer-open', open);
    if (open)
      this.sidebar.element
        .querySelector<HTMLButtonElement>('button.conv[aria-current="page"], button.conv')
        ?.focus();
  }

  private closeDrawer(): void {
    this.root.querySelector('.app')?.classList.remove('drawer-open');
  }

  private toggleMembers(): void {
    this.setMembersOpen(!(this.root.querySelector('.app')?.classList.contains('members-open') ?? false));
  }

  private setMembersOpen(open: boolean): void {
    this.root.querySelector('.app')?.classList.toggle('members-open', open);
    this.membersToggle.setAttribute('aria-expanded', String(open));
  }

  private async leave(): Promise<void> {
    const room = this.active;
    const conv = room === undefined ? undefined : this.conversations.get(room);
    if (room === undefined || conv === undefined || conv.isDm) return;
    try {
      await this.client.leave(room);
    } catch {
      // Gone from this page either way; the server forgets it on its own terms.
    }
    this.forget(room);
    this.active = undefined;
    const next =
      [...this.conversations.values()].find((c) => !c.isDm)?.room ?? [...this.conversations.keys()][0];
    this.renderSidebar();
    if (next !== undefined) await this.open(next);
    else this.showEmpty();
  }

  private async logout(): Promise<void> {
    this.finished = true;
    await this.client.close();
    await this.options.session.logout();
    this.teardown();
    this.options.ended(undefined);
  }

  private finish(reason: string | undefined): void {
    if (this.finished) return;
    this.finished = true;
    void this.client.close();
    this.teardown();
    this.options.ended(reason);
  }

  /** The session ended by itself (the refresh was refused): back to the login form. */
  sessionEnded(reason: string): void {
    this.finish(reason);
  }

  private teardown(): void {
    window.clearInterval(this.ticker);
    for (const t of this.readTimers.values()) window.clearTimeout(t);
    clearActive();
  }
}

function maxId(a: string | undefined, b: string): string {
  return a === undefined || compareMessageIds(b, a) > 0 ? b : a;
}

function readActive(): string | undefined {
  try {
    return sessionStorage.getItem(ACTIVE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function saveActive(room: string): void {
  try {
    sessionStorage.setItem(ACTIVE_KEY, room);
  } catch {
    // Storage disabled: a reload opens the first room.
  }
}

function clearActive(): void {
  try {
    sessionStorage.removeItem(ACTIVE_KEY);
  } catch {
    // Nothing stored.
  }
}
