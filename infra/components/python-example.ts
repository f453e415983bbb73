// Builds examples/python-hello into a wasi:http component with
// componentize-py, pinned, from PyPI, in a venv of its own in the cache.
//
// componentize-py 0.25.1 bundles no WASI WIT: `-w wasi:http/proxy@0.2.x`
// without `-d` finds nothing. The example's world includes wasi:http/proxy,
// and the build links the WASI 0.2.12 packages into a scratch wit/deps from
// the pinned jco in workloads/toolchain (as workloads/build-component.ts does),
// so no WIT text is copied into the repository.
import { cp, mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MissingToolError, printProgress, runStep, toolVersion, type Progress } from './build-step.ts'
import {
  cacheRoot,
  cachedComponent,
  componentsDir,
  filesUnder,
  inputsKey,
  storeComponent,
  type BuiltComponent,
} from './component-cache.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const PYTHON_EXAMPLE = path.join(repo, 'examples', 'python-hello')
export const COMPONENTIZE_PY_VERSION = '0.25.1'
/** The WASI WIT packages the pinned jco ships; the folder names the WASI version. */
export const WASI_WIT = path.join(
  repo,
  'workloads',
  'toolchain',
  'node_modules',
  '@bytecodealliance',
  'jco',
  'lib',
  'wit',
  'builtin',
  '0.2.12',
)
const NAME = 'python-hello'
/** The example's world (examples/python-hello/wit/world.wit) and its Python module. */
const WORLD = 'service'
const APP = 'app'

const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  )

/** componentize-py in ${cache}/tools/componentize-py-<version>, installed there from PyPI the first time. */
export async function componentizePy(progress: Progress = printProgress): Promise<string> {
  const venv = path.join(cacheRoot(), 'tools', `componentize-py-${COMPONENTIZE_PY_VERSION}`)
  const tool = path.join(venv, 'bin', 'componentize-py')
  const installed = path.join(venv, 'installed')
  if (await exists(installed)) return tool
  const why = `installing componentize-py ${COMPONENTIZE_PY_VERSION} for ${NAME}`
  const python = await toolVersion(
    'python3',
    ['--version'],
    why,
    'Install Python 3 with its venv module (Debian: apt-get install python3 python3-venv).',
  )
  progress(
    `${NAME}: installing componentize-py ${COMPONENTIZE_PY_VERSION} from PyPI into ${venv} (${python}; the first time downloads a wheel of about 20 MB)`,
  )
  await rm(venv, { recursive: true, force: true })
  const log = path.join(componentsDir(), 'logs', `componentize-py-${COMPONENTIZE_PY_VERSION}-install.log`)
  await runStep('python3 -m venv', 'python3', ['-m', 'venv', venv], {
    cwd: repo,
    log,
    progress,
    hint: 'Debian splits the venv module out of python3: apt-get install python3-venv',
  })
  // Only the wheel: its source distribution would need a Rust build of its own.
  await runStep(
    'pip install componentize-py',
    path.join(venv, 'bin', 'python'),
    [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--no-input',
      '--only-binary=:all:',
      `componentize-py==${COMPONENTIZE_PY_VERSION}`,
    ],
    {
      cwd: repo,
      log: log.replace(/\.log$/, '-pip.log'),
      progress,
      hint: 'pip installs componentize-py from PyPI: is the network up?',
    },
  )
  const version = await toolVersion(tool, ['--version'], why, `Remove ${venv} and run this again.`)
  if (!version.includes(COMPONENTIZE_PY_VERSION))
    throw new MissingToolError(
      `${tool} says "${version}", not ${COMPONENTIZE_PY_VERSION}: remove ${venv} and run this again`,
    )
  await writeFile(installed, `${version}\n`)
  return tool
}

/** The WASI WIT folders (wasi-http, wasi-io, ...), or an error saying how to install them. */
async function wasiPackages(): Promise<string[]> {
  const entries = await readdir(WASI_WIT).catch(() => undefined)
  if (!entries || entries.length === 0) {
    throw new MissingToolError(
      `building ${NAME} needs the WASI 0.2.12 WIT packages from the pinned jco (${path.relative(repo, WASI_WIT)}), which are not installed: run npm install in the repository (its postinstall installs workloads/toolchain)`,
    )
  }
  return entries.sort().map((e) => path.join(WASI_WIT, e))
}

export async function buildPythonHello(progress: Progress = printProgress): Promise<BuiltComponent> {
  const sources = (await filesUnder(PYTHON_EXAMPLE)).filter((f) => f.endsWith('.py') || f.endsWith('.wit'))
  const packages = await wasiPackages()
  const witFiles = (await Promise.all(packages.map(filesUnder))).flat()
  const key = await inputsKey(
    repo,
    [...sources, ...witFiles, fileURLToPath(import.meta.url)],
    [`componentize-py ${COMPONENTIZE_PY_VERSION}`],
  )
  const hit = await cachedComponent(NAME, key)
  if (hit) return hit

  const started = Date.now()
  const tool = await componentizePy(progress)
  // A scratch folder: the world with its deps linked in, and the Python files
  // alone (componentize-py bundles the folder it is given, and Python would
  // leave __pycache__ in the example).
  const scratch = path.join(componentsDir(), 'work', `${NAME}-${key}`)
  await rm(scratch, { recursive: true, force: true })
  await mkdir(path.join(scratch, 'wit', 'deps'), { recursive: true })
  await mkdir(path.join(scratch, 'app'), { recursive: true })
  await cp(path.join(PYTHON_EXAMPLE, 'wit'), path.join(scratch, 'wit'), { recursive: true })
  for (const dir of packages) await symlink(dir, path.join(scratch, 'wit', 'deps', path.basename(dir)))
  for (const file of sources.filter((f) => f.endsWith('.py')))
    await cp(file, path.join(scratch, 'app', path.relative(PYTHON_EXAMPLE, file)))
  const out = path.join(scratch, `${NAME}.wasm`)
  progress(
    `${NAME}: componentize-py -d wit -w ${WORLD} componentize ${APP} (bundles CPython and its standard library)`,
  )
  await runStep(
    'componentize-py',
    tool,
    ['-d', 'wit', '-w', WORLD, 'componentize', '-p', 'app', APP, '-o', out],
    {
      cwd: scratch,
      log: path.join(componentsDir(), 'logs', `${NAME}-${key}.log`),
      progress,
    },
  )
  const built = await storeComponent(NAME, key, out)
  await rm(scratch, { recursive: true, force: true })
  progress(`${NAME}: built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return built
}
