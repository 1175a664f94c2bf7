// Local packages for dependency tests: no registry is reachable, so tests build their own.
import fs from 'node:fs';
import path from 'node:path';

/** A pure-Python wheel is a zip with METADATA, WHEEL and RECORD: build one without pip or network. */
export async function makeWheel(dir: string): Promise<string> {
  const { execFileSync } = await import('node:child_process');
  const script = `
import zipfile, hashlib, base64, sys
files = {
  "tinypkg/__init__.py": b"def shout(s):\\n    return s.upper() + '!'\\n",
  "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: tinypkg\\nVersion: 1.0\\n",
  "tinypkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: faasd-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
def rec(n, d):
    h = base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
    return f"{n},sha256={h},{len(d)}"
with zipfile.ZipFile(sys.argv[1], "w") as z:
    lines = []
    for n, d in files.items():
        z.writestr(n, d); lines.append(rec(n, d))
    lines.append("tinypkg-1.0.dist-info/RECORD,,")
    z.writestr("tinypkg-1.0.dist-info/RECORD", "\\n".join(lines) + "\\n")
`;
  const wheel = path.join(dir, 'tinypkg-1.0-py3-none-any.whl');
  execFileSync('/usr/bin/python3', ['-c', script, wheel]);
  return wheel;
}

export function makeNpmPackage(dir: string): string {
  const pkg = path.join(dir, 'left-pad-local');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'left-pad-local', version: '1.0.0', main: 'index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), "module.exports = (s, n) => String(s).padStart(n, '*');\n");
  return pkg;
}
