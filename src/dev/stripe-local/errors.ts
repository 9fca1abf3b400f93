/**
 * Stripe's error responses: `{ error: { type, code?, message, param?, decline_code?, ... } }` with
 * the HTTP status the stripe SDK maps to its typed errors (400/404 StripeInvalidRequestError or,
 * with type idempotency_error, StripeIdempotencyError; 401 StripeAuthenticationError; 402
 * StripeCardError; anything else StripeAPIError).
 */

export type StripeErrorType = 'invalid_request_error' | 'idempotency_error' | 'card_error' | 'api_error';

export type StripeErrorBody = {
  error: {
    type: StripeErrorType;
    message: string;
    code?: string;
    param?: string;
    decline_code?: string;
    /** Card errors carry the objects they concern, as Stripe's do. */
    charge?: string;
    payment_intent?: object;
    doc_url?: string;
  };
};

type Details = Omit<StripeErrorBody['error'], 'type' | 'message'>;

/** Thrown by endpoint code and test controls; rendered by the server as Stripe's error body. */
export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: StripeErrorType,
    message: string,
    readonly details: Details = {},
  ) {
    super(message);
    this.name = 'StripeApiError';
  }

  body(): StripeErrorBody {
    return { error: { type: this.type, message: this.message, ...this.details } };
  }
}

const docUrl = (code: string): string => `https://stripe.com/docs/error-codes/${code.replaceAll('_', '-')}`;

export const invalidRequest = (message: string, param?: string, code?: string): StripeApiError =>
  new StripeApiError(400, 'invalid_request_error', message, {
    ...(code ? { code, doc_url: docUrl(code) } : {}),
    ...(param ? { param } : {}),
  });

export const parameterMissing = (param: string): StripeApiError =>
  invalidRequest(`Missing required param: ${param}.`, param, 'parameter_missing');

/**
 * "No such customer: 'cus_x'". A missing object named in the URL is a 404; one named in a
 * parameter is a 400 with that parameter, as Stripe answers.
 */
export const noSuch = (label: string, id: string, param: string, status: 400 | 404 = 400): StripeApiError =>
  new StripeApiError(status, 'invalid_request_error', `No such ${label}: '${id}'`, {
    code: 'resource_missing',
    doc_url: docUrl('resource_missing'),
    param,
  });

export const unexpectedState = (message: string): StripeApiError =>
  invalidRequest(message, undefined, 'payment_intent_unexpected_state');

export const apiError = (message = 'An unknown error occurred'): StripeApiError =>
  new StripeApiError(500, 'api_error', message);
