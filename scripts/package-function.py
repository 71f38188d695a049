"""Makes function-source.zip, the source Cloud Functions builds tvm from.

The zip holds what the Node.js buildpack needs to build the function itself, exactly
as it runs in Cloud Build for a 2nd gen function: package.json and its lock (for
`npm ci`), the `gcp-build` script's own files (scripts/build/), the TypeScript
configuration and sources it compiles (src/ and emulator/src/, which
tsconfig.build.json includes), and nothing else: no node_modules, no build/, no other
scripts (test/deploy/buildpack.test.ts builds and serves the zip as the buildpack
does, so an npm script that needs a file the zip lacks fails there).

Entries are sorted and their timestamps fixed, so the same tree gives the same bytes:
the Terraform module names the object by its MD5 and redeploys only on a change.

  python3 scripts/package-function.py [OUT.zip]     # default: function-source.zip
"""
import os
import sys
import zipfile

FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']
TREES = ['scripts/build', 'src', 'emulator/src']


def entries(root):
    """The repository-relative paths to pack, sorted."""
    out = list(FILES)
    for tree in TREES:
        for d, dirs, fs in os.walk(os.path.join(root, tree)):
            dirs.sort()
            for f in fs:
                out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(p.replace(os.sep, '/') for p in out)


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.abspath(argv[1] if len(argv) > 1 else 'function-source.zip')
    paths = entries(root)
    with zipfile.ZipFile(out, 'w') as z:
        for path in paths:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(os.path.join(root, path), 'rb') as f:
                z.writestr(info, f.read())
    print(f'{os.path.relpath(out)}: {len(paths)} files')


if __name__ == '__main__':
    main(sys.argv)
