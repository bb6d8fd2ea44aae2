export { forwardCorrelation, correlatedInput, MESSAGE_ATTRIBUTE_LIMIT, type ForwardableClient } from './forward.js'
