/* global process */
// Preloaded (node --require) into a process under test: as it exits, writes the
// built-in modules and bindings it loaded (process.moduleLoadList) to the file named
// by TVM_TEST_MODULE_LIST, as JSON.
const {writeFileSync} = require('node:fs');

const file = process.env.TVM_TEST_MODULE_LIST;
if (file) {
  process.on('exit', () => {
    writeFileSync(file, JSON.stringify(process.moduleLoadList));
  });
}
