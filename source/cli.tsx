#!/usr/bin/env node
// Placeholder entry; replaced as the faces land.
console.log('graviton-tune: under construction');
