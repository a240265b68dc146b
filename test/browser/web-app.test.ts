/**
 * The web client in a real browser (Debian's Chromium, driven by playwright-core), as
 * people use it: against `npm start`'s embedded process and against the production
 * topology (nginx with TLS, auth and chat nodes, Redis). Screenshots go to
 * test/artifacts/web-<deployment>/.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext } from 'playwright-core';
import { launchChromium, newPerson, screenshot } from '../support/chromium';
import { waitFor } from '../support/wait';
import { ChatPage, PASSWORD } from './chat-page';
import { clusterDeployment, embeddedDeployment, WEB_TEST_ENV, type Deployment } from './deployments';

const RATE_MAX = Number(WEB_TEST_ENV.RATE_LIMIT_MAX);
const MAX_BYTES = Number(WEB_TEST_ENV.MAX_MESSAGE_BYTES);

function webAppSuite(name: string, tags: string, deploy: () => Promise<Deployment>): void {
  describe(`the web client in Chromium: ${name} ${tags}`, function () {
    this.timeout(60_000);
    const suite = `web-${name}`;
    let deployment: Deployment;
    let browser: Browser;
    const contexts: BrowserContext[] = [];
    const pages: ChatPage[] = [];
    const tag = randomBytes(2).toString('hex');
    const user = (base: string) => `${base}${tag}`;
    const alice = user('alice');
    const bob = user('bob');
    let a: ChatPage;
    let b: ChatPage;

    async function person(username: string, options: { width?: number; height?: number } = {}) {
      const context = await newPerson(browser, { ...options, https: deployment.https });
      contexts.push(context);
      const page = await ChatPage.open(context, deployment.url, username);
      pages.push(page);
      return { context, page };
    }

    async function tab(context: BrowserContext, username: string): Promise<ChatPage> {
      const page = await ChatPage.tab(context, deployment.url, username);
      pages.push(page);
      return page;
    }

    const dmRoom = (x: string, y: string) => `dm:${[x, y].sort().join(':')}`;

    before(async function () {
      this.timeout(150_000);
      deployment = await deploy();
      browser = await launchChromium();
      a = (await person(alice)).page;
      b = (await person(bob)).page;
    });

    after(async function () {
      this.timeout(60_000);
      for (const context of contexts) await context.close().catch(() => undefined);
      await browser?.close();
      await deployment?.stop();
    });

    afterEach(function () {
      // Whatever a test did, no page may have thrown, logged an error or broken the CSP.
      if (this.currentTest?.state === 'passed') for (const p of pages) p.expectClean();
    });

    it('two people register, join #lobby and chat: each sees the other once, in order, with times and presence', async () => {
      await a.register(alice);
      await expectVisible(a, '#join-first');
      await a.joinFirstRoom();
      await b.register(bob);
      await b.joinFirstRoom();
      await a.page.locator(`.member.online[data-user="${bob}"]`).waitFor();

      await a.send('Hello Bob!');
      await b.sees('Hello Bob!');
      await b.send('Hi Alice, good to see you.');
      await a.sees('Hi Alice, good to see you.');
      // Bob's own line turns from pending to sent when his node echoes it: that may come
      // after Alice's node delivered it to her.
      await b.sees('Hi Alice, good to see you.');
      for (const p of [a, b]) {
        expect(await p.texts()).to.deep.equal(['Hello Bob!', 'Hi Alice, good to see you.']);
        expect(await p.page.locator('.pane:not([hidden]) .msg time').count()).to.be.at.least(2);
        expect(await p.page.locator('.pane:not([hidden]) .day').first().textContent()).to.equal('Today');
      }
      expect(await b.page.locator(`.member.online[data-user="${alice}"]`).count()).to.equal(1);
      await screenshot(a.page, suite, 'two-people-alice');
      await screenshot(b.page, suite, 'two-people-bob');
    });

    it('message text with HTML stays text, and a long word wraps instead of widening the page', async () => {
      const html = `<img src=x onerror="document.title='pwned'"><script>window.pwned=1</script><b>bold</b> & "quotes"`;
      const long = `${'A'.repeat(400)}!`;
      await a.send(html);
      await a.send(long);
      await b.sees(long);
      const shown = b.messages.filter({ hasText: 'onerror' });
      expect(await shown.textContent()).to.equal(html);
      expect(await b.page.locator('.messages img, .messages script, .messages b').count()).to.equal(0);
      expect(await b.page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).to.equal(
        undefined,
      );
      expect(await b.page.title()).not.to.include('pwned');
      const overflow = await b.page.evaluate(() => {
        const scroller = document.querySelector('.pane:not([hidden]) .scroller') as HTMLElement;
        return scroller.scrollWidth - scroller.clientWidth;
      });
      expect(overflow, 'horizontal overflow in px').to.be.at.most(0);
      await screenshot(b.page, suite, 'html-as-text');
    });

    it("a direct message reaches someone who joined nothing, shows in their inbox with a badge, and the sender's other tab", async () => {
      const carol = user('carol');
      const c = (await person(carol)).page;
      await c.register(carol);
      await expectVisible(c, '#join-first');
      const aliceTab = await tab(contexts[0] as BrowserContext, alice);
      await aliceTab.signedIn();

      await a.startDm(carol);
      await a.send('Psst, Carol: lunch at noon?');
      const room = dmRoom(alice, carol);
      await c.conversation(room).waitFor();
      expect(await c.badge(room)).to.equal('1');
      expect(await c.conversation(room).locator('.preview').textContent()).to.include('lunch at noon');
      await waitFor(async () => (await c.page.title()) === '(1) securechat', {
        what: 'the unread count in the title',
      });
      await screenshot(c.page, suite, 'dm-inbox');
      // the sender's other tab has the conversation too, live
      await aliceTab.conversation(room).waitFor();

      await c.open(room);
      await c.sees('Psst, Carol: lunch at noon?');
      await waitFor(async () => (await c.badge(room)) === null, { what: 'the badge gone once read' });
      await c.send('Noon works!');
      await a.sees('Noon works!');
      await aliceTab.open(room);
      await aliceTab.sees('Noon works!');
      expect(await aliceTab.texts()).to.deep.equal(['Psst, Carol: lunch at noon?', 'Noon works!']);
      await screenshot(c.page, suite, 'dm-conversation');
      await aliceTab.page.close();
    });

    it('a reload keeps the session and the history, and no script can read the refresh token', async () => {
      await b.page.reload();
      await b.signedIn();
      expect(await b.loginForm.count()).to.equal(0);
      await b.sees('Hi Alice, good to see you.');
      const texts = await b.texts();
      expect(texts.slice(0, 2)).to.deep.equal(['Hello Bob!', 'Hi Alice, good to see you.']);
      expect(texts.filter((t) => t === 'Hello Bob!')).to.have.length(1);

      const cookies = await (contexts[1] as BrowserContext).cookies();
      const session = cookies.find((c) => c.name === '__Secure-securechat_refresh');
      expect(session, 'the session cookie').to.not.equal(undefined);
      expect(session).to.deep.include({
        httpOnly: true,
        secure: true,
        sameSite: 'Strict',
        path: '/auth/refresh',
      });
      const visible = await b.page.evaluate(() => ({
        cookie: document.cookie,
        stored: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
      }));
      expect(visible.cookie).to.equal('');
      expect(visible.stored).not.to.include(session?.value ?? 'x');
      expect(visible.stored).not.to.match(/eyJ[\w-]+\.[\w-]+/); // no JWT in storage
    });

    it('scrolling up loads older history, each message once and in order', async () => {
      const room = `archive${tag}`;
      const total = 70;
      await fillRoom(room, total);
      await b.joinRoom(room);
      await b.sees(`archive ${total}`);
      expect(await b.messages.count()).to.equal(50); // one page of history on joining
      await b.page.locator('.pane:not([hidden]) .scroller').evaluate((el) => el.scrollTo({ top: 0 }));
      await waitFor(async () => (await b.messages.count()) === total, { what: 'the older messages' });
      await b.sees('archive 1');
      expect(await b.texts()).to.deep.equal(Array.from({ length: total }, (_, i) => `archive ${i + 1}`));
      await expectVisible(b, '.pane:not([hidden]) .edge-note');
      await screenshot(b.page, suite, 'history-top');
    });

    it('a fast typist is slowed, never blocked: queued messages stay on screen and go out in order', async () => {
      await a.open('lobby');
      const dave = user('dave');
      const d = (await person(dave)).page;
      await d.register(dave);
      await d.joinFirstRoom();
      const burst = Array.from({ length: 2 * RATE_MAX + 2 }, (_, i) => `quick ${i + 1}`);
      for (const text of burst) await d.send(text);
      // the page says when sending is possible again, and keeps every text it has not sent
      await expectVisible(d, '#rate-notice');
      expect(await d.page.locator('#rate-notice').textContent()).to.match(
        /You can send again at .+ \(in \d+ s\)/,
      );
      await d.pending.filter({ hasText: 'Waiting to send' }).first().waitFor();
      await screenshot(d.page, suite, 'rate-limited');
      await d.sees(burst.at(-1) as string, 40_000);
      expect((await d.texts()).filter((t) => t.startsWith('quick '))).to.deep.equal(burst);
      await a.sees(burst.at(-1) as string, 10_000);
      // never blocked: still connected, and the next message goes through
      expect(await d.connected()).to.equal(true);
      await d.send('still here');
      await a.sees('still here', 20_000);
      expect(await d.loginForm.count()).to.equal(0);
      await waitFor(async () => (await d.pending.count()) === 0, { what: 'nothing left pending' });
    });

    it("the composer knows the server's size limit (from welcome): too long is refused before sending, never cut", async () => {
      const input = a.page.locator('#composer-input');
      await a.open('lobby');
      await b.open('lobby');
      await input.fill('x'.repeat(MAX_BYTES));
      await expectVisible(a, '.composer.over');
      expect(await a.page.locator('.counter').textContent()).to.match(/^Too long: [\d,]+ of 8,192 bytes$/);
      expect(await a.page.locator('#send').isDisabled()).to.equal(true);
      await input.press('Enter');
      expect(await input.inputValue()).to.have.length(MAX_BYTES); // kept, not sent, not cut
      // 6,000 characters: over the old page's 4,000, within the server's limit
      const fits = `${'y'.repeat(5999)}.`;
      await input.fill(fits);
      expect(await a.page.locator('#send').isDisabled()).to.equal(false);
      await input.press('Enter');
      await b.sees(fits);
      expect(await b.messages.filter({ hasText: 'yyyy' }).last().textContent()).to.have.length(6000);
    });

    it('works at 390 px wide: a drawer for the conversations, no sideways scrolling, keyboard only', async () => {
      const erin = user('erin');
      const { page: e } = await person(erin, { width: 390, height: 844 });
      // keyboard only: the username field has focus; Tab to the password; Enter logs in
      await e.page.locator('#username').waitFor();
      await e.page.keyboard.type(erin);
      await e.page.keyboard.press('Tab');
      await e.page.keyboard.type(PASSWORD);
      await e.page.keyboard.press('Tab');
      await e.page.keyboard.press('Tab');
      await e.page.keyboard.press('Enter'); // "Create account"
      await e.signedIn();
      await e.joinFirstRoom();
      await e.sees('still here');
      await e.joinRoom(`side${tag}`);
      expect(await e.page.locator('#sidebar').isVisible()).to.equal(false);
      // Alt+Up and Alt+Down move between conversations
      await e.page.keyboard.press('Alt+ArrowUp');
      await e.page.locator('#room-title', { hasText: '#lobby' }).waitFor();
      await e.page.locator('#composer-input').focus();
      await e.page.keyboard.type('Typed on a phone-sized screen, sent with Enter');
      await e.page.keyboard.press('Enter');
      await a.sees('Typed on a phone-sized screen, sent with Enter');
      const widths = await e.page.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        body: document.body.scrollWidth,
        viewport: window.innerWidth,
      }));
      expect(widths.page).to.be.at.most(widths.viewport);
      expect(widths.body).to.be.at.most(widths.viewport);
      await screenshot(e.page, suite, 'phone-390-chat');
      await e.page.click('#menu');
      await expectVisible(e, '#sidebar');
      await screenshot(e.page, suite, 'phone-390-drawer');
      await e.page.keyboard.press('Escape');
      await waitFor(async () => !(await e.page.locator('#sidebar').isVisible()), {
        what: 'the drawer closed',
      });
      await e.page.click('#members-toggle');
      await expectVisible(e, '#members');
      await screenshot(e.page, suite, 'phone-390-members');
    });

    if (name === 'cluster') {
      it('a chat node killed under the page: it reconnects elsewhere and resumes with nothing lost or doubled', async () => {
        await a.open('lobby');
        await b.open('lobby');
        const victim = await a.node();
        const bobOnVictim = (await b.node()) === victim;
        await deployment.killChatNode?.(victim);
        if (bobOnVictim) {
          // Bob's page moves too: he writes once it is back, so that no send of his is cut off.
          await waitFor(async () => (await b.connected()) && (await b.node()) !== victim, {
            what: "bob's page on another node",
            timeoutMs: 30_000,
          });
        }
        const during = ['while you were away 1', 'while you were away 2', 'while you were away 3'];
        for (const text of during) await b.send(text);
        await a.sees(during.at(-1) as string, 30_000);
        await waitFor(async () => (await a.connected()) && (await a.node()) !== victim, {
          what: 'the page on another node',
          timeoutMs: 30_000,
        });
        const texts = await a.texts();
        for (const text of during)
          expect(
            texts.filter((t) => t === text),
            text,
          ).to.have.length(1);
        expect(texts.slice(-during.length)).to.deep.equal(during);
        expect(new Set(texts).size, 'no message twice').to.equal(texts.length);
        await a.send('back on another node');
        await b.sees('back on another node');
        await screenshot(a.page, suite, 'after-node-killed');
      });
    }

    it('logging out in one tab brings back the login form in the other, saying why; a reload stays logged out', async () => {
      const other = await tab(contexts[0] as BrowserContext, alice);
      await other.signedIn();
      await a.page.click('#logout');
      await a.loginForm.waitFor();
      await other.loginForm.waitFor({ timeout: 20_000 });
      expect(await other.page.locator('#login-error').textContent()).to.match(
        /logged out|session has ended/i,
      );
      await screenshot(other.page, suite, 'logged-out-elsewhere');
      await other.page.reload();
      await other.loginForm.waitFor();
      expect(await other.page.locator('#app').count()).to.equal(0);
      // and logging in again works
      await a.login(alice);
      await a.sees('Hello Bob!');
    });

    it('a refresh the server refuses (the session cookie expired) brings back the login form, saying so', async () => {
      const frank = user('frank');
      const { context, page: f } = await person(frank);
      await f.register(frank);
      await context.clearCookies(); // as when the cookie's Max-Age runs out
      await f.page.reload();
      await f.loginForm.waitFor();
      expect(await f.page.locator('#login-error').textContent()).to.equal(
        'Your session has ended. Please log in again.',
      );
      expect(await f.page.locator('#username').inputValue()).to.equal('');
      await screenshot(f.page, suite, 'session-ended');
    });

    /**
     * Registers accounts and posts `count` messages ("archive 1"…) into `room` from a page
     * of the site (its origin, its WebSocket), each account within the rate limit.
     */
    async function fillRoom(room: string, count: number): Promise<void> {
      const context = await newPerson(browser, { https: deployment.https });
      const page = await context.newPage();
      try {
        await page.goto(deployment.url);
        await page.evaluate(
          async ({ room, count, perUser, password, tag }) => {
            const post = (path: string, body: unknown) =>
              fetch(path, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify(body),
              });
            const wsUrl = `${location.origin.replace(/^http/, 'ws')}/ws`;
            let sent = 0;
            for (let u = 0; sent < count; u++) {
              const username = `filler${u}x${tag}`;
              await post('/auth/register', { username, password });
              const { access_token: token } = (await (
                await post('/auth/login', { username, password })
              ).json()) as {
                access_token: string;
              };
              const ws = new WebSocket(wsUrl, ['chat.v1', `bearer.${token}`]);
              const replies: Record<string, unknown>[] = [];
              const waiters: (() => void)[] = [];
              ws.onmessage = (e) => {
                replies.push(JSON.parse(String(e.data)) as Record<string, unknown>);
                for (const w of waiters.splice(0)) w();
              };
              const reply = async (ref: string) => {
                for (;;) {
                  const found = replies.find((r) => r.ref === ref);
                  if (found !== undefined) return found;
                  await new Promise<void>((resolve) => waiters.push(resolve));
                }
              };
              await new Promise((resolve) => (ws.onopen = resolve));
              ws.send(JSON.stringify({ type: 'join', room, ref: 'j' }));
              await reply('j');
              for (let i = 0; i < perUser && sent < count; i++) {
                sent += 1;
                ws.send(JSON.stringify({ type: 'send', room, text: `archive ${sent}`, ref: `s${sent}` }));
                const ack = await reply(`s${sent}`);
                if (ack.type !== 'ack') throw new Error(`archive ${sent}: ${JSON.stringify(ack)}`);
              }
              ws.close();
            }
          },
          { room, count, perUser: RATE_MAX, password: PASSWORD, tag },
        );
      } finally {
        await context.close();
      }
    }
  });
}

async function expectVisible(page: ChatPage, selector: string): Promise<void> {
  await page.page.locator(selector).first().waitFor({ state: 'visible', timeout: 15_000 });
}

webAppSuite('embedded', '@browser', embeddedDeployment);
webAppSuite('cluster', '@browser @redis @nginx', clusterDeployment);
