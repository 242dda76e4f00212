import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadConfig } from '../../src/app/config.js';
import { createSwitchboard, type Switchboard } from '../../src/app/switchboard.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? 'chromium';

/*
 * The newcomer's path: the server in dev mode, the demo page in two browsers, two users
 * chat — message, reaction, read receipt, edit, typing, presence and custom status.
 */
describe('the demo page in a real browser', () => {
  let app: Switchboard;
  let url: string;
  let browser: Browser;
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-demo-'));
  const errors: string[] = [];

  before(async () => {
    app = await createSwitchboard(loadConfig({ PORT: '0', HOST: '127.0.0.1', SWITCHBOARD_DATA_DIR: dataDir, SWITCHBOARD_LOG_LEVEL: 'silent', SWITCHBOARD_PRESENCE_GRACE_MS: '300', SWITCHBOARD_DRAIN_WINDOW_MS: '0' }));
    url = `http://127.0.0.1:${await app.start()}/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await app?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const logIn = async (user: string): Promise<Page> => {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => errors.push(`${user}: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && errors.push(`${user}: ${m.text()}`));
    await page.goto(url);
    await page.fill('#user', user);
    await page.click('#login button');
    await page.waitForSelector('#create:not([hidden])');
    return page;
  };

  it('lets two users chat end to end', async () => {
    const alice = await logIn('alice');
    const bob = await logIn('bob');
    await alice.fill('#members', 'bob');
    await alice.click('#create button');
    await alice.waitForSelector('#composer:not([hidden])');
    await alice.fill('#text', 'hello bob');
    await alice.click('#composer button');

    await bob.click('#rooms li >> text=alice');
    await bob.waitForSelector('.msg >> text=hello bob');
    await bob.locator('.msg .reactions button').first().click();
    await alice.waitForSelector('.reactions button >> text=1');
    await alice.waitForSelector('text=seen by bob');

    alice.once('dialog', (d) => void d.accept('hello bob, edited'));
    await alice.click('.msg.mine .meta a >> text=edit');
    await bob.waitForSelector('.msg >> text=hello bob, edited');

    await bob.type('#text', 'typing');
    await alice.waitForSelector('#typing >> text=bob is typing');

    await bob.selectOption('#status', 'away');
    await bob.fill('#customStatus', 'at lunch');
    await bob.click('#setStatus');
    await alice.waitForSelector('#people >> text=bob — at lunch');
    assert.equal(await alice.locator('#people span:has-text("bob") .dot').getAttribute('class'), 'dot away');

    await bob.close();
    await alice.waitForSelector('#people span:has-text("bob") .dot.offline', { state: 'attached' });
    assert.deepEqual(errors, []);
  });
});
