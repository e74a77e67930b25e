#!/usr/bin/env node
// The installed `resnet` command: runs the compiled CLI (built into dist/ by `npm install`).
import '../dist/cli/main.js';
