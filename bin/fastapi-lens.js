#!/usr/bin/env node
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const cli = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(cli)) {
  process.stderr.write('fastapi-lens: not built yet; run `npm run build` first\n');
  process.exit(2);
}
require(cli);
