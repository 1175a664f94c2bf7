'use strict';
// Required once by shim.js while a fresh instance waits for `init`, so that the module loader's
// first resolve-read-compile (~2-3 ms) is paid before a function is loaded, not during.
module.exports = true;
