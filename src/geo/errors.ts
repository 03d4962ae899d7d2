import { AppError, INTERNAL_STATUS } from "../errors.js";

/** Stable codes of the errors the geo core throws (validation problems are returned, not thrown). */
export type GeoErrorCode = "invalid_fence" | "invalid_coordinate";

/**
 * An error of the geo core with a stable `code`, for programming errors such as handing the
 * index a fence that never went through validation: the service's one error type with status
 * 500 (logged, answered as a plain `internal` problem).
 */
export class GeoError extends AppError {
	declare readonly code: GeoErrorCode;
	override readonly name = "GeoError";

	/**
	 * @param code stable reason code
	 * @param message human-readable detail (not part of the contract)
	 */
	constructor(code: GeoErrorCode, message: string) {
		super(code, INTERNAL_STATUS, message);
	}
}
