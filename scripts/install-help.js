// Runs when `npm install` found no prebuilt addon for this platform (or was asked to build from
// source) and node-gyp could not build one: says what to install, then fails the install.
const os = require("node:os");

const where = `${process.platform}-${process.arch}`;
const needs = {
  linux: "a C++17 compiler, make and Python 3 (Debian/Ubuntu: apt install g++ make python3; Fedora/RHEL: dnf install gcc-c++ make python3; Alpine: apk add g++ make python3)",
  darwin: "Xcode's command-line tools (xcode-select --install) and Python 3",
  win32: "Visual Studio Build Tools with the \"Desktop development with C++\" workload, and Python 3",
}[process.platform] || "a C++17 compiler, make and Python 3";
console.error(
  `\nringllm: no prebuilt addon matched ${where} (prebuilds: linux-x64, linux-arm64, win32-x64), ` +
    `or a source build was requested, and building it from source failed (node-gyp's output above).\n` +
    `To build it, install ${needs}, then run: npm rebuild ringllm\n` +
    `(Node ${process.version}, ${os.type()} ${os.release()})\n`,
);
process.exit(1);
