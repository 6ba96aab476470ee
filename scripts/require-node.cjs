#!/usr/bin/env node
'use strict';
// Plain CommonJS on purpose: it must run, and explain itself, on any Node old enough to need it.

/** The oldest Node.js that runs the project's TypeScript natively (type stripping without a flag). */
const REQUIRED = [22, 18, 0];
const REQUIRED_TEXT = '>= 22.18';
const FIX = 'npm install --prefix ~/.local/node24 node@24 && export PATH="$HOME/.local/node24/node_modules/.bin:$PATH"';

/** True when version `found` ("v20.20.2") is at least `REQUIRED`. */
function isSupported(found) {
  const parts = String(found).replace(/^v/, '').split('.').map(Number);
  for (let i = 0; i < REQUIRED.length; i++) {
    const part = parts[i] || 0;
    if (part !== REQUIRED[i]) return part > REQUIRED[i];
  }
  return true;
}

/** The refusal printed when the running Node is too old: one line, so that it is read first and whole. */
function refusal(found, program) {
  return (
    `${program}: Node.js ${REQUIRED_TEXT} is required; this is Node.js ${found} (${process.execPath}). ` +
    `Install Node 24, put it first on PATH and run the command again: ${FIX}\n`
  );
}

/** Exits with status 1 and the refusal on stderr unless the running Node is new enough. */
function requireNode(program) {
  if (isSupported(process.versions.node)) return;
  process.stderr.write(refusal(`v${process.versions.node}`, program || 'runner-sessions'));
  process.exit(1);
}

module.exports = { REQUIRED_TEXT, isSupported, refusal, requireNode };

if (require.main === module) requireNode(process.argv[2]);
