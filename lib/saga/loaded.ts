// The sagas loaded on one app, by name: what `fastify.saga` runs, exports and serves Step Functions tasks for.
import { HALO_ERR_OPTION } from '../errors.js'
import type { LoadSagaOptions, Saga, SagaApis } from './saga.js'

/** What a saga is loaded with besides the APIs: per-Resource schemas, and how compensations are retried. */
export type SagaLoadOptions = Pick<LoadSagaOptions, 'schemas' | 'compensationRetry'>

export interface LoadedSaga {
  readonly saga: Saga
  readonly apis: SagaApis
  readonly options: SagaLoadOptions | undefined
}

/** The sagas loaded on one app, with the APIs and options each was loaded with. */
export class LoadedSagas {
  readonly #where: string
  readonly #sagas = new Map<string, LoadedSaga>()

  /** `where` names the owner in error messages. */
  constructor (where: string) {
    this.#where = where
  }

  add (name: string, saga: Saga, apis: SagaApis | undefined, options: SagaLoadOptions | undefined): void {
    if (this.#sagas.has(name)) throw new HALO_ERR_OPTION(`${this.#where}: a saga named "${name}" is already loaded`)
    this.#sagas.set(name, { saga, apis: apis ?? {}, options })
  }

  /** The saga loaded under `name`, with what it was loaded with; `failure` makes the error when there is none. */
  get (name: string, failure: (message: string) => Error = (message) => new HALO_ERR_OPTION(`${this.#where}: ${message}`)): LoadedSaga {
    const loaded = this.#sagas.get(name)
    if (loaded === undefined) throw failure(`no saga named "${name}" is loaded (loaded: ${[...this.#sagas.keys()].join(', ') || 'none'})`)
    return loaded
  }

  sagas (): Iterable<Saga> {
    return [...this.#sagas.values()].map(({ saga }) => saga)
  }
}
