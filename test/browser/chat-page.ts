import { expect } from 'chai';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { watchProblems, type PageProblems } from '../support/chromium';

export const PASSWORD = 'correct horse battery';

/** One tab of the web client, driven as a person would: by labels, keys and clicks. */
export class ChatPage {
  readonly problems: PageProblems;

  private constructor(
    readonly page: Page,
    readonly name: string,
  ) {
    this.problems = watchProblems(page, name);
  }

  static async open(context: BrowserContext, url: string, name: string): Promise<ChatPage> {
    const page = await context.newPage();
    const chat = new ChatPage(page, name);
    await page.goto(url);
    return chat;
  }

  /** Another tab of the same person (same cookies). */
  static async tab(context: BrowserContext, url: string, name: string): Promise<ChatPage> {
    return ChatPage.open(context, url, name);
  }

  async register(username: string): Promise<void> {
    await this.fillLogin(username);
    await this.page.click('#register-button');
    await this.signedIn();
  }

  async login(username: string): Promise<void> {
    await this.fillLogin(username);
    await this.page.keyboard.press('Enter');
    await this.signedIn();
  }

  private async fillLogin(username: string): Promise<void> {
    await this.page.locator('#username').fill(username);
    await this.page.locator('#password').fill(PASSWORD);
  }

  async signedIn(): Promise<void> {
    await this.page.locator('#app').waitFor({ timeout: 15_000 });
  }

  get loginForm(): Locator {
    return this.page.locator('#login');
  }

  /** On a narrow screen the sidebar is a drawer: opens it if it is closed. */
  async reveal(): Promise<void> {
    if (!(await this.page.locator('#sidebar').isVisible())) {
      await this.page.click('#menu');
      await this.page.locator('#sidebar').waitFor({ state: 'visible' });
    }
  }

  async joinFirstRoom(): Promise<void> {
    await this.page.click('#join-first');
    await this.page.locator('#room-title', { hasText: '#lobby' }).waitFor();
  }

  async joinRoom(room: string): Promise<void> {
    await this.reveal();
    await this.page.click('#join-room-toggle');
    await this.page.locator('#join-room-input').fill(room);
    await this.page.keyboard.press('Enter');
    await this.page.locator('#room-title', { hasText: `#${room}` }).waitFor();
  }

  async startDm(username: string): Promise<void> {
    await this.reveal();
    await this.page.click('#new-dm-toggle');
    await this.page.locator('#new-dm-input').fill(username);
    await this.page.keyboard.press('Enter');
    await this.page.locator('#room-title', { hasText: username }).waitFor();
  }

  /** Types and presses Enter, as a person sends. */
  async send(text: string): Promise<void> {
    const input = this.page.locator('#composer-input');
    await input.fill(text);
    await input.press('Enter');
  }

  /** The messages of the conversation on screen. */
  get messages(): Locator {
    return this.page.locator('.pane:not([hidden]) li.msg:not(.pending) .text');
  }

  get pending(): Locator {
    return this.page.locator('.pane:not([hidden]) li.msg.pending');
  }

  /** Waits until the open conversation shows a message with exactly this text. */
  async sees(text: string, timeout = 15_000): Promise<void> {
    await this.messages.filter({ hasText: text }).first().waitFor({ timeout });
  }

  async texts(): Promise<string[]> {
    return this.messages.allTextContents();
  }

  /** The sidebar entry of a room or DM room. */
  conversation(room: string): Locator {
    return this.page.locator(`button.conv[data-room="${room}"]`);
  }

  async badge(room: string): Promise<string | null> {
    const badge = this.conversation(room).locator('.badge');
    return (await badge.count()) === 0 ? null : badge.textContent();
  }

  async open(room: string): Promise<void> {
    await this.reveal();
    await this.conversation(room).click();
    await this.page.locator(`.pane[data-room="${room}"]:not([hidden])`).waitFor();
  }

  /** The chat node serving this page (from its welcome). */
  async node(): Promise<string> {
    const node = await this.page.locator('#me-status').getAttribute('data-node');
    expect(node, 'the page names its chat node').to.be.a('string');
    return node as string;
  }

  async connected(): Promise<boolean> {
    return (await this.page.locator('#me-status').getAttribute('data-state')) === 'ok';
  }

  /** No uncaught error, no console error and no CSP violation so far. */
  expectClean(): void {
    expect(this.problems.cspViolations, 'CSP violations').to.deep.equal([]);
    expect(this.problems.errors, 'errors on the page').to.deep.equal([]);
  }
}
