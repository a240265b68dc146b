import type { ChatMessage } from '@securechat/sdk/browser';
import type { Conversation } from './conversation';
import { h } from './dom';
import { avatarClass, clockTime, dayKey, dayLabel, fullTime, inHowLong, initial } from './format';

/** A message typed here and not yet stored by the server. */
export interface Pending {
  key: number;
  text: string;
  state: 'sending' | 'queued' | 'failed';
  /** For `queued`: when the rate limit lets it go (epoch ms). */
  until?: number;
  /** The id once acknowledged (the message itself may not have arrived yet). */
  id?: string;
}

/** Consecutive messages of one sender within this gap share one header. */
const GROUP_GAP_MS = 5 * 60_000;
/** How close to the bottom counts as "reading the newest" (px). */
const NEAR_BOTTOM_PX = 80;

export interface RoomPaneEvents {
  /** The reader scrolled to the top: load older messages. */
  wantsOlder(): void;
  retry(pending: Pending): void;
  discard(pending: Pending): void;
}

/**
 * One conversation's message list: its own scroll position, history loaded upwards as the
 * reader scrolls, new messages followed when the reader is at the bottom (a "new
 * messages" button otherwise), day separators, grouped senders, timestamps.
 */
export class RoomPane {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly top: HTMLElement;
  private readonly jump: HTMLButtonElement;
  private readonly rendered = new Map<string, HTMLLIElement>();
  private pending: Pending[] = [];
  private loadingOlder = false;

  constructor(
    private readonly conversation: Conversation,
    private readonly me: string,
    private readonly events: RoomPaneEvents,
  ) {
    this.top = h('div', { class: 'history-edge' });
    this.list = h('ol', { class: 'messages', 'aria-label': `Messages in ${conversation.title}` });
    this.jump = h('button', { type: 'button', class: 'jump', hidden: true }, 'New messages ↓');
    const scroller = h('div', { class: 'scroller', tabindex: 0 }, this.top, this.list);
    this.element = h(
      'section',
      { class: 'pane', 'data-room': conversation.room, hidden: true },
      scroller,
      this.jump,
    );
    scroller.addEventListener('scroll', () => this.onScroll());
    this.jump.addEventListener('click', () => this.scrollToBottom());
    this.renderEdge();
  }

  private get scroller(): HTMLElement {
    return this.list.parentElement as HTMLElement;
  }

  show(): void {
    this.element.hidden = false;
    if (this.wasAtBottom) this.scrollToBottom();
  }

  hide(): void {
    this.wasAtBottom = this.atBottom();
    this.element.hidden = true;
  }

  private wasAtBottom = true;

  atBottom(): boolean {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= NEAR_BOTTOM_PX;
  }

  scrollToBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.jump.hidden = true;
  }

  setLoadingOlder(loading: boolean): void {
    this.loadingOlder = loading;
    this.renderEdge();
  }

  setPending(pending: Pending[]): void {
    this.pending = pending;
    this.render();
  }

  /** Re-renders after new messages; keeps the reader's place (or follows the bottom). */
  update(options: { older?: boolean } = {}): void {
    const s = this.scroller;
    const follow = !this.element.hidden && this.atBottom();
    const fromBottom = s.scrollHeight - s.scrollTop;
    this.render();
    if (options.older) {
      // Older messages went in above: the same messages stay under the reader's eyes.
      s.scrollTop = s.scrollHeight - fromBottom;
    } else if (follow || this.element.hidden) {
      this.scrollToBottom();
      this.wasAtBottom = true;
    } else {
      this.jump.hidden = false;
    }
    this.renderEdge();
  }

  /** Whether the list is short enough that the reader cannot scroll up to ask for more. */
  needsMore(): boolean {
    const s = this.scroller;
    return !this.conversation.complete && s.scrollHeight <= s.clientHeight + 40;
  }

  private onScroll(): void {
    if (this.atBottom()) this.jump.hidden = true;
    if (this.scroller.scrollTop < 120 && !this.loadingOlder && !this.conversation.complete) {
      this.events.wantsOlder();
    }
  }

  private renderEdge(): void {
    const c = this.conversation;
    this.top.replaceChildren(
      this.loadingOlder
        ? h('p', { class: 'edge-note' }, 'Loading earlier messages…')
        : c.complete
          ? h(
              'p',
              { class: 'edge-note' },
              c.messages.length === 0
                ? c.isDm
                  ? `This is the start of your conversation with ${c.peer}.`
                  : `This is the start of #${c.room}. Say hello!`
                : c.isDm
                  ? `The start of your conversation with ${c.peer}.`
                  : `The start of #${c.room}.`,
            )
          : '',
    );
  }

  private render(): void {
    const items: HTMLLIElement[] = [];
    let previous: ChatMessage | undefined;
    for (const m of this.conversation.messages) {
      if (previous === undefined || dayKey(previous.ts) !== dayKey(m.ts)) {
        items.push(h('li', { class: 'day', role: 'separator' }, h('span', {}, dayLabel(m.ts))));
      }
      const grouped =
        previous !== undefined &&
        previous.from === m.from &&
        dayKey(previous.ts) === dayKey(m.ts) &&
        m.ts - previous.ts < GROUP_GAP_MS;
      const el = this.messageElement(m);
      el.classList.toggle('cont', grouped);
      items.push(el);
      previous = m;
    }
    const now = Date.now();
    // Waiting messages follow on from the reader's own last one, like the messages they become.
    let continues = previous !== undefined && previous.from === this.me && now - previous.ts < GROUP_GAP_MS;
    for (const p of this.pending) {
      if (p.id !== undefined && this.conversation.has(p.id)) continue;
      const el = this.pendingElement(p, now);
      el.classList.toggle('cont', continues);
      items.push(el);
      continues = true;
    }
    this.list.replaceChildren(...items);
  }

  private messageElement(m: ChatMessage): HTMLLIElement {
    const cached = this.rendered.get(m.id);
    if (cached !== undefined) return cached;
    const mine = m.from === this.me;
    const el = h(
      'li',
      { class: mine ? 'msg mine' : 'msg', 'data-id': m.id, 'data-from': m.from },
      h('span', { class: avatarClass(m.from), 'aria-hidden': 'true' }, initial(m.from)),
      h(
        'div',
        { class: 'msg-head' },
        h('span', { class: 'from' }, m.from),
        h('time', { datetime: new Date(m.ts).toISOString(), title: fullTime(m.ts) }, clockTime(m.ts)),
      ),
      h('p', { class: 'text' }, m.text),
      h('time', { class: 'hover-time', title: fullTime(m.ts), 'aria-hidden': 'true' }, clockTime(m.ts)),
    );
    this.rendered.set(m.id, el);
    return el;
  }

  private pendingElement(p: Pending, now: number): HTMLLIElement {
    const status =
      p.state === 'failed'
        ? h(
            'span',
            { class: 'pending-status failed' },
            'Not sent. ',
            button('Retry', () => this.events.retry(p)),
            ' ',
            button('Discard', () => this.events.discard(p)),
          )
        : p.state === 'queued' && p.until !== undefined && p.until > now
          ? h('span', { class: 'pending-status' }, `Waiting to send (${inHowLong(p.until - now)})…`)
          : h('span', { class: 'pending-status' }, 'Sending…');
    return h(
      'li',
      { class: `msg mine pending ${p.state}`, 'data-pending': p.key },
      h('span', { class: avatarClass(this.me), 'aria-hidden': 'true' }, initial(this.me)),
      h('div', { class: 'msg-head' }, h('span', { class: 'from' }, this.me)),
      h('p', { class: 'text' }, p.text),
      status,
    );
  }
}

function button(label: string, onClick: () => void): HTMLButtonElement {
  const b = h('button', { type: 'button', class: 'link' }, label);
  b.addEventListener('click', onClick);
  return b;
}
