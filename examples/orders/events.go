package orders

// Events are stored on the order's stream ("order-<id>"). Each Go type
// names its event type once, with an EventType method (eventlog.Named);
// handlers, the saga, appends and the Order fold infer it from the type.

// DeclinedCard is the test card the simulated payment provider declines.
const DeclinedCard = "4000-0000-0000-0002"

// OrderPlaced starts an order.
type OrderPlaced struct {
	OrderID  string  `json:"order_id"`
	Customer string  `json:"customer"`
	SKU      string  `json:"sku"`
	Quantity int     `json:"quantity"`
	Total    float64 `json:"total"`
	Card     string  `json:"card"`
}

// StockReserved, StockReleased, PaymentCharged, PaymentRefunded,
// OrderShipped and OrderCancelled record the saga's progress.
type (
	StockReserved struct {
		OrderID  string `json:"order_id"`
		Customer string `json:"customer"`
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	}
	StockReleased struct {
		OrderID  string `json:"order_id"`
		Customer string `json:"customer"`
	}
	PaymentCharged struct {
		OrderID  string  `json:"order_id"`
		Customer string  `json:"customer"`
		Amount   float64 `json:"amount"`
		ChargeID string  `json:"charge_id"`
	}
	PaymentRefunded struct {
		OrderID  string  `json:"order_id"`
		Customer string  `json:"customer"`
		Amount   float64 `json:"amount"`
	}
	OrderShipped struct {
		OrderID  string `json:"order_id"`
		Customer string `json:"customer"`
		Tracking string `json:"tracking"`
	}
	OrderCancelled struct {
		OrderID  string `json:"order_id"`
		Customer string `json:"customer"`
		Reason   string `json:"reason"`
	}
	// ReturnRequested: the customer sends a shipped order back (see
	// RequestReturn).
	ReturnRequested struct {
		OrderID  string `json:"order_id"`
		Customer string `json:"customer"`
		Reason   string `json:"reason"`
	}
)

func (OrderPlaced) EventType() string     { return "OrderPlaced" }
func (StockReserved) EventType() string   { return "StockReserved" }
func (StockReleased) EventType() string   { return "StockReleased" }
func (PaymentCharged) EventType() string  { return "PaymentCharged" }
func (PaymentRefunded) EventType() string { return "PaymentRefunded" }
func (OrderShipped) EventType() string    { return "OrderShipped" }
func (OrderCancelled) EventType() string  { return "OrderCancelled" }
func (ReturnRequested) EventType() string { return "ReturnRequested" }

// Stream is an order's stream id.
func Stream(orderID string) string { return "order-" + orderID }
