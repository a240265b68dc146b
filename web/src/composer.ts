import { h } from './dom';
import { count } from './format';

export interface ComposerEvents {
  /** Enter (or the button) with text that fits. */
  submit(text: string): void;
  /** The text changed (to keep a draft per conversation). */
  changed(text: string): void;
}

/**
 * The message box: Enter sends, Shift+Enter starts a new line, the box grows with its
 * text. It measures what it would send against the server's real limit and says so
 * before the server would refuse it; it never cuts the text.
 */
export class Composer {
  readonly element: HTMLFormElement;
  readonly input: HTMLTextAreaElement;
  private readonly counter: HTMLElement;
  private readonly send: HTMLButtonElement;
  private measure: (text: string) => { used: number; limit: number } = (t) => ({
    used: t.length,
    limit: Infinity,
  });

  constructor(private readonly events: ComposerEvents) {
    this.input = h('textarea', {
      id: 'composer-input',
      rows: 1,
      placeholder: 'Message',
      'aria-label': 'Message',
      autocomplete: 'off',
      enterkeyhint: 'send',
    });
    this.counter = h('span', { class: 'counter', 'aria-live': 'polite' });
    this.send = h(
      'button',
      { type: 'submit', class: 'primary send', id: 'send', 'aria-label': 'Send' },
      'Send',
    );
    this.element = h(
      'form',
      { class: 'composer', id: 'composer', autocomplete: 'off' },
      this.input,
      h('div', { class: 'composer-side' }, this.send, this.counter),
    );
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.trySubmit();
      }
    });
    this.input.addEventListener('input', () => {
      this.refresh();
      this.events.changed(this.input.value);
    });
    this.element.addEventListener('submit', (e) => {
      e.preventDefault();
      this.trySubmit();
    });
  }

  /** How to measure a text against the limit (the target and the limit change with the room). */
  setMeasure(measure: (text: string) => { used: number; limit: number }): void {
    this.measure = measure;
    this.refresh();
  }

  setPlaceholder(text: string): void {
    this.input.placeholder = text;
  }

  setText(text: string): void {
    this.input.value = text;
    this.refresh();
  }

  focus(): void {
    this.input.focus();
  }

  private trySubmit(): void {
    const text = this.input.value;
    if (text.trim() === '' || this.tooLong(text)) return;
    this.input.value = '';
    this.refresh();
    this.events.changed('');
    this.events.submit(text);
  }

  private tooLong(text: string): boolean {
    const { used, limit } = this.measure(text);
    return used > limit;
  }

  private refresh(): void {
    const text = this.input.value;
    const { used, limit } = this.measure(text);
    const over = used > limit;
    this.send.disabled = text.trim() === '' || over;
    this.element.classList.toggle('over', over);
    this.counter.textContent = over
      ? `Too long: ${count(used)} of ${count(limit)} bytes`
      : used > limit * 0.8
        ? `${count(limit - used)} bytes left`
        : '';
    // Grow with the text, up to the cap in the style sheet (CSSOM, allowed by the CSP).
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
  }
}
